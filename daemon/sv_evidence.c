/* The supervisor's evidence for incidents: the M7's trace ring and devcoredumps from the
 * remoteproc of the channel, and the kernel lines about it around the fault. */
#include "evidence.h"
#include "sv.h"

#include <stdio.h>

/* The newest n kernel lines of c's ring into array a, oldest first; how many. By order,
 * not by their wall-clock stamps: the clock may be set back meanwhile. */
static uint64_t kernel_lines(struct sv_chan *c, cJSON *a, uint64_t n)
{
	size_t len = incident_ring_len(&c->klines);
	uint64_t kept = 0;

	for (size_t i = n < len ? len - (size_t)n : 0; a && i < len; i++) {
		const struct incident_entry *e = incident_ring_at(&c->klines, i);
		char t[24];
		cJSON *o;

		if (!(o = cJSON_CreateObject()))
			continue;
		snprintf(t, sizeof(t), "%llu", (unsigned long long)e->t_us);
		cJSON_AddItemToObject(o, "t_us", cJSON_CreateRaw(t));
		cJSON_AddStringToObject(o, "text", e->text);
		cJSON_AddItemToArray(a, o);
		kept++;
	}
	return kept;
}

cJSON *sv_evidence_gather(struct sv_chan *c)
{
	const struct supervisor_daemon_conf *cfg = &c->sv->cfg;
	struct evidence_source src = {
		.debugfs_root = cfg->debugfs_root[0] ? cfg->debugfs_root : NULL,
		.sysfs_root = cfg->sysfs_root,
	};
	cJSON *o;

	/* Without a remoteproc there is no trace0 to read and no dump to call ours. */
	if (sv_priv_rproc(c) == 0) {
		src.instance = c->rproc->instance;
		src.device = c->rproc->device;
		/* debugfs is root's: the unprivileged daemon has its helper open trace0. */
		if (c->sv->priv && src.debugfs_root) {
			src.trace_given = true;
			src.trace_fd = sv_priv_open_trace(c);
		}
	} else {
		src.sysfs_root = NULL;
	}
	o = evidence_gather(&src);
	if (o)
		kernel_lines(c, cJSON_AddArrayToObject(o, "kernel"), UINT64_MAX);
	c->klines_at_inc = c->klines_seen;
	return o;
}

void sv_evidence_kernel_after(struct sv_chan *c, cJSON *evidence)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(evidence, "kernel");
	uint64_t after = c->klines_seen - c->klines_at_inc, kept;
	char n[24];

	if (!a)
		return;
	kept = kernel_lines(c, a, after);
	/* A flood during the incident pushes its older lines out of the ring: said, with
	 * how many, rather than shown as if they were all. */
	snprintf(n, sizeof(n), "%llu", (unsigned long long)(after > kept ? after - kept : 0));
	cJSON_AddItemToObject(evidence, "kernel_dropped", cJSON_CreateRaw(n));
}
