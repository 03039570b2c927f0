/* The supervisor's evidence for incidents: the M7's trace ring and devcoredumps from the
 * remoteproc of the channel, and the kernel lines about it around the fault. */
#include "evidence.h"
#include "sv.h"

#include <stdio.h>

/* Kernel lines of c's ring with after_us < t_us <= until_us into array a; how many. */
static uint64_t kernel_lines(struct sv_chan *c, cJSON *a, uint64_t after_us, uint64_t until_us)
{
	uint64_t n = 0;

	for (size_t i = 0; a && i < incident_ring_len(&c->klines); i++) {
		const struct incident_entry *e = incident_ring_at(&c->klines, i);
		char t[24];
		cJSON *o;

		if (e->t_us <= after_us || e->t_us > until_us || !(o = cJSON_CreateObject()))
			continue;
		snprintf(t, sizeof(t), "%llu", (unsigned long long)e->t_us);
		cJSON_AddItemToObject(o, "t_us", cJSON_CreateRaw(t));
		cJSON_AddStringToObject(o, "text", e->text);
		cJSON_AddItemToArray(a, o);
		n++;
	}
	return n;
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
		kernel_lines(c, cJSON_AddArrayToObject(o, "kernel"), 0, c->inc->start_us);
	c->klines_at_inc = c->klines_seen;
	return o;
}

void sv_evidence_kernel_after(struct sv_chan *c, cJSON *evidence, uint64_t since_us)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(evidence, "kernel");
	uint64_t after = c->klines_seen - c->klines_at_inc, kept;
	char n[24];

	if (!a)
		return;
	kept = kernel_lines(c, a, since_us, UINT64_MAX);
	/* A flood during the incident pushes its older lines out of the ring: said, with
	 * how many, rather than shown as if they were all. */
	snprintf(n, sizeof(n), "%llu", (unsigned long long)(after > kept ? after - kept : 0));
	cJSON_AddItemToObject(evidence, "kernel_dropped", cJSON_CreateRaw(n));
}
