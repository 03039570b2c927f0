/* m7bridge-mqtt: configuration (an INI file read with libinih) and topic names. */
#ifndef M7B_MQTT_CONF_H
#define M7B_MQTT_CONF_H

#include <stdbool.h>
#include <stddef.h>

#define MQC_STR	     256
#define MQC_CHANNELS 16

/* FRAME payload published on .../frame. */
enum mqc_payload { MQC_PAYLOAD_JSON, MQC_PAYLOAD_RAW };

/* Everything the bridge is configured with; defaults from mqc_defaults(). */
struct mqc {
	char socket[MQC_STR]; /* daemon socket, "" = the library's default */
	/* [broker] */
	char host[MQC_STR];
	int port;
	char client_id[MQC_STR];
	char username[MQC_STR], password[MQC_STR];
	bool tls;
	char ca_file[MQC_STR], ca_path[MQC_STR], cert_file[MQC_STR], key_file[MQC_STR];
	bool tls_insecure; /* skip the server name check (testing only) */
	int keepalive_s;
	int reconnect_min_s, reconnect_max_s;
	/* [topics] */
	char prefix[MQC_STR];
	char node[MQC_STR]; /* <host> in topics; "" = gethostname() */
	enum mqc_payload payload;
	int qos;
	/* [bridge] */
	int queue_max;	       /* messages held while the broker is away (and in flight) */
	int stats_interval_ms; /* period of the retained .../bridge/stats message */
	int incidents_interval_ms;
	/* [commands] */
	bool allow_send;
	char send_channels[MQC_CHANNELS][64]; /* allowed channels; none listed = all */
	size_t nsend_channels;
};

/* Fills the defaults. */
void mqc_defaults(struct mqc *c);
/* Reads an INI file over the defaults. Returns 0, -errno (cannot open), or the first bad
 * line (> 0) with msg saying why. */
int mqc_load(struct mqc *c, const char *path, char *msg, size_t msg_cap);
/* Checks what depends on several settings (TLS needs a CA; a client certificate needs its
 * key; the reconnect bounds). Returns 0, or -EINVAL with msg saying why. */
int mqc_check(const struct mqc *c, char *msg, size_t msg_cap);
/* Parses one setting; returns true if known and valid (msg says why not). */
bool mqc_set(struct mqc *c, const char *section, const char *key, const char *value, char *msg,
	     size_t msg_cap);
/* True if a send to channel may be forwarded from the command topic. */
bool mqc_send_allowed(const struct mqc *c, const char *channel);
/* Writes prefix/node/a[/b[/c...]] into buf; path segments are made safe for MQTT (no
 * '+', '#', '/' inside a segment). Returns the length, or -ENAMETOOLONG. */
int mqc_topic(const struct mqc *c, char *buf, size_t cap, const char *const *segs, size_t nsegs);

#endif
