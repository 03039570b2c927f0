/* Client protocol v1: the STATUS reply, rendered with cJSON (rare, variable size). */
#include "proto.h"

#include "fwcount.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Adds text, valid JSON already, as a member; NULL on ENOMEM. */
static cJSON *add_raw(cJSON *obj, const char *key, const char *text)
{
	cJSON *r = cJSON_CreateRaw(text);
	if (r && cJSON_AddItemToObject(obj, key, r))
		return r;
	cJSON_Delete(r);
	return NULL;
}

/* Integers in full, without fraction or exponent (section 4 of the protocol): cJSON
 * prints a double, so 1e15 as 1e+15 and 5000000000000001 as 5e+15, and nanoseconds of
 * uptime pass 1e15 after 12 days. */
static cJSON *add_u64(cJSON *obj, const char *key, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof num, "%llu", (unsigned long long)v);
	return add_raw(obj, key, num);
}

/* Appends a new object to arr; NULL (nothing added) on ENOMEM. */
static cJSON *add_object(cJSON *arr)
{
	cJSON *o = cJSON_CreateObject();
	if (o && cJSON_AddItemToArray(arr, o))
		return o;
	cJSON_Delete(o);
	return NULL;
}

/* "ports": the named ports, so a client can check a port or show its name. */
static void status_ports_json(cJSON *o, const struct proto_status_channel *c)
{
	cJSON *arr = NULL;
	for (unsigned p = 0; c->port_names && p < c->nports; p++) {
		if (!c->port_names[p])
			continue;
		if (!arr && !(arr = cJSON_AddArrayToObject(o, "ports")))
			return;
		cJSON *e = add_object(arr);
		if (!e)
			return;
		cJSON_AddNumberToObject(e, "port", p);
		cJSON_AddStringToObject(e, "name", c->port_names[p]);
	}
}

/* "recovery_steps": the ladder's steps, least disruptive first. */
static void status_steps_json(cJSON *o, const char *list)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "recovery_steps");
	char buf[128], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ",", &save); arr && t; t = strtok_r(NULL, ",", &save))
		cJSON_AddItemToArray(arr, cJSON_CreateString(t));
}

/* True when a port has anything booked: only those are listed. */
static bool port_used(const struct books_port *p)
{
	return p->produced || p->published || p->malformed || p->dropped_m7 || p->lost_reboot ||
	       p->lost_link || p->unsettled || p->awaiting || p->current;
}

/* The channel's accounting: totals of settled boots per port, plus the current boot. */
static void status_books_json(cJSON *o, const struct books *b)
{
	cJSON *a = cJSON_AddObjectToObject(o, "accounting");
	if (!a)
		return;
	add_u64(a, "boots_settled", b->boots_settled);
	add_u64(a, "boots_unknown", b->boots_unknown);
	add_u64(a, "excess", b->excess);
	add_u64(a, "other_port_frames", b->other_port_frames);
	cJSON *ports = cJSON_AddArrayToObject(a, "ports");
	for (unsigned i = 0; ports && i < BOOKS_PORTS; i++) {
		const struct books_port *p = &b->port[i];
		if (!port_used(p))
			continue;
		cJSON *e = add_object(ports);
		if (!e)
			return;
		add_u64(e, "port", i);
		add_u64(e, "produced", p->produced);
		add_u64(e, "published", p->published);
		add_u64(e, "malformed", p->malformed);
		add_u64(e, "dropped_m7", p->dropped_m7);
		add_u64(e, "lost_reboot", p->lost_reboot);
		add_u64(e, "lost_link", p->lost_link);
		add_u64(e, "unsettled", p->unsettled);
		add_u64(e, "awaiting", p->awaiting);
		add_u64(e, "current", p->current);
	}
}

/* "m7_counters": the firmware's HEARTBEAT counters summed across its u32 wraps and its
 * boots, those any HEARTBEAT carried; credits, a level, is the channel's "credits". */
static void status_m7_counters_json(cJSON *o, const struct proto_status_channel *c)
{
	if (c->raw || c->m7_known == 0 || !c->m7_totals)
		return;
	cJSON *m = cJSON_AddObjectToObject(o, "m7_counters");
	for (unsigned i = 0; m && i < c->m7_known && i < M7B_HB_NCOUNTERS; i++)
		if (!fwcount_is_gauge(i))
			add_u64(m, proto_hb_counter_name(i), c->m7_totals[i]);
}

/* The members of one channel in STATUS; member order is part of the output. */
static void status_channel_json(cJSON *o, const struct proto_status_channel *c)
{
	cJSON_AddStringToObject(o, "name", c->name);
	cJSON_AddStringToObject(o, "state", c->state);
	add_u64(o, "frames", c->frames);
	add_u64(o, "recoveries", c->recoveries);
	cJSON_AddStringToObject(o, "device", c->device);
	if (c->reason && c->reason[0])
		cJSON_AddStringToObject(o, "reason", c->reason);
	add_u64(o, "bytes", c->bytes);
	add_u64(o, "data_frames", c->data_frames);
	add_u64(o, "seq_gaps", c->seq_gaps);
	add_u64(o, "bad_crc", c->bad_crc);
	add_u64(o, "resyncs", c->resyncs);
	add_u64(o, "noise_bytes", c->noise_bytes);
	add_u64(o, "unread_at_close", c->unread_at_close);
	add_u64(o, "reopens", c->reopens);
	add_u64(o, "unknown_types", c->unknown_types);
	add_u64(o, "bad_payloads", c->bad_payloads);
	add_u64(o, "sends", c->sends);
	add_u64(o, "send_errors", c->send_errors);
	add_u64(o, "send_queue", c->send_queue);
	add_u64(o, "write_stalls", c->write_stalls);
	add_u64(o, "write_stall_ms", c->write_stall_ms);
	if (c->raw) {
		cJSON_AddStringToObject(o, "mode", "raw");
		add_u64(o, "raw_rx_bytes", c->raw_rx_bytes);
		add_u64(o, "raw_chunks", c->raw_chunks);
		add_u64(o, "raw_tx_bytes", c->raw_tx_bytes);
		add_u64(o, "raw_tx_dropped", c->raw_tx_dropped);
	}
	if (c->has_credits)
		cJSON_AddNumberToObject(o, "credits", c->credits);
	if (c->has_firmware) {
		cJSON *fw = cJSON_AddObjectToObject(o, "firmware");
		if (fw) {
			cJSON_AddStringToObject(fw, "name", c->fw_name ? c->fw_name : "");
			add_u64(fw, "boot_id", c->boot_id);
			add_u64(fw, "tick_hz", c->tick_hz);
			add_u64(fw, "max_payload", c->max_payload);
		}
	}
	add_u64(o, "state_ms", c->state_ms);
	status_ports_json(o, c);
	if (c->recovery_steps)
		status_steps_json(o, c->recovery_steps);
	if (c->pty) {
		cJSON *p = cJSON_AddObjectToObject(o, "pty");
		if (p) {
			cJSON_AddStringToObject(p, "path", c->pty->path);
			cJSON_AddStringToObject(p, "slave", c->pty->slave);
			add_u64(p, "to_app", c->pty->to_app);
			add_u64(p, "to_m7", c->pty->to_m7);
			add_u64(p, "dropped_to_app", c->pty->dropped_to_app);
			add_u64(p, "failed_to_m7", c->pty->failed_to_m7);
			add_u64(p, "paused_ms", c->pty->paused_ms);
		}
	}
	if (c->has_clock) {
		cJSON *k = cJSON_AddObjectToObject(o, "clock");
		if (k) {
			cJSON_AddStringToObject(k, "source", c->clock.source);
			cJSON_AddBoolToObject(k, "mapped", c->clock.mapped);
			if (c->clock.mapped) {
				/* As the CLOCK object prints them (proto_render_clock). */
				char num[48];
				snprintf(num, sizeof num, "%lld", (long long)c->clock.offset_ns);
				add_raw(k, "offset_ns", num);
				snprintf(num, sizeof num, "%.4f", c->clock.rate_ppm);
				if (isfinite(c->clock.rate_ppm)) /* never nan, never null */
					add_raw(k, "rate_ppm", num);
				snprintf(num, sizeof num, "%.4f", c->clock.rate_err_ppm);
				if (isfinite(c->clock.rate_err_ppm))
					add_raw(k, "rate_err_ppm", num);
				add_u64(k, "err_ns", c->clock.err_ns);
				add_u64(k, "samples", c->clock.samples);
				add_u64(k, "updated_mono_ns", c->clock.updated_mono_ns);
			}
			add_u64(k, "epochs", c->clock.epochs);
			add_u64(k, "rejected", c->clock.rejected);
		}
	}
	if (c->books)
		status_books_json(o, c->books);
	if (c->holder_pid > 0) {
		cJSON *h = cJSON_AddObjectToObject(o, "holder");
		if (h) {
			cJSON_AddNumberToObject(h, "pid", c->holder_pid);
			if (c->holder_comm && c->holder_comm[0])
				cJSON_AddStringToObject(h, "comm", c->holder_comm);
		}
	}
	if (c->has_faults) {
		cJSON *f;
		add_u64(o, "kick_failures", c->faults.kick_failures);
		f = cJSON_AddObjectToObject(o, "faults");
		for (unsigned i = 0; f && i < c->faults.n; i++)
			add_u64(f, c->faults.v[i].kind, c->faults.v[i].n);
	}
	if (!c->raw)
		add_u64(o, "untimed_frames", c->untimed_frames);
	status_m7_counters_json(o, c);
}

static void status_client_json(cJSON *o, const struct proto_status_client *c)
{
	add_u64(o, "id", c->id);
	if (c->pid > 0)
		cJSON_AddNumberToObject(o, "pid", c->pid);
	if (c->uid >= 0)
		cJSON_AddNumberToObject(o, "uid", (double)c->uid);
	cJSON_AddBoolToObject(o, "watching", c->watching);
	cJSON_AddStringToObject(o, "policy", proto_policy_to_string(c->policy));
	add_u64(o, "delivered", c->delivered);
	add_u64(o, "dropped", c->dropped);
	add_u64(o, "queued_bytes", c->queued_bytes);
}

/* cJSON's text plus the newline that ends every object; frees text. */
static char *as_line(char *text, size_t *len)
{
	if (!text)
		return NULL;
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (!line) {
		free(text);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

char *proto_render_status(const struct proto_status *s, size_t *len)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	bool ok = cJSON_AddStringToObject(root, "class", "STATUS") != NULL;
	/* The id as the request parser printed it: parsed and printed again by cJSON,
	 * 9007199254740991 came back as 9.00719925474099e+15, another number. */
	if (ok && s->id && s->id[0])
		ok = add_raw(root, "id", s->id) != NULL;
	cJSON *chans = cJSON_AddArrayToObject(root, "channels");
	ok = ok && chans;
	for (unsigned i = 0; ok && i < s->nchannels; i++) {
		cJSON *o = add_object(chans);
		if (o)
			status_channel_json(o, &s->channels[i]);
		ok = o != NULL;
	}
	ok = ok && cJSON_AddStringToObject(root, "release", s->release);
	ok = ok && add_u64(root, "uptime_ms", s->uptime_ms);
	ok = ok && add_u64(root, "client_id", s->client_id);
	if (ok && s->pid > 0)
		ok = cJSON_AddNumberToObject(root, "pid", s->pid) != NULL;
	cJSON *cls = ok ? cJSON_AddArrayToObject(root, "clients") : NULL;
	ok = ok && cls;
	for (unsigned i = 0; ok && i < s->nclients; i++) {
		cJSON *o = add_object(cls);
		if (o)
			status_client_json(o, &s->clients[i]);
		ok = o != NULL;
	}
	char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
	cJSON_Delete(root);
	return as_line(text, len);
}
