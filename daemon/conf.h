/* Daemon configuration: INI file ([daemon] and [channel NAME] sections) read with libinih. Pure:
 * no sockets, no ttys; errors name the file, line and key. */
#ifndef M7B_CONFIG_H
#define M7B_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h" /* the build's: M7B_SYSCONFDIR */
#include "supervisor_conf.h"

#define CONF_DEFAULT_PATH   M7B_SYSCONFDIR "/m7bridge/m7bridge.conf"
#define CONF_DEFAULT_SOCKET "/run/m7bridge/m7bridge.sock"
#define CONF_MAX_CHANNELS   64
#define CONF_NAME_MAX	    64 /* channel and port names, bytes */
#define CONF_PORTS	    256

/* How the firmware talks on the tty. */
enum conf_mode {
	CONF_MODE_WIRE = 0, /* wire v1 frames */
	CONF_MODE_RAW,	    /* bytes of its own: published as RAW chunks, sent as they are */
};

#define CONF_PATH_MAX 256

struct conf_channel {
	char *name;
	char *device;
	char *port_names[CONF_PORTS]; /* NULL = unnamed */
	unsigned send_timeout_ms;
	unsigned send_queue;	   /* send requests queued per channel */
	unsigned reopen_min_ms;	   /* first reopen delay */
	unsigned reopen_max_ms;	   /* backoff cap (and the polling period without inotify) */
	unsigned replay_kib;	   /* ring of recent frames for replay, 0 = none */
	unsigned replay_max_age_s; /* frames older than this leave the ring */
	bool host_hello;	   /* send HOST_HELLO after each open */
	bool enabled;
	char *firmware;	  /* firmware file name for reload (optional) */
	char *remoteproc; /* remoteproc instance, e.g. remoteproc0 (optional) */
	char *rpmsg; /* <remoteproc>:<endpoint>, resolved to the device at each open; or NULL */
	struct supervisor_channel_conf sup; /* supervisor: plain values, copied as is */
	enum conf_mode mode;
	char pty[CONF_PATH_MAX];       /* stable pty path (a symlink); "" = none */
	unsigned pty_port;	       /* wire mode: the port the pty carries */
	unsigned pty_mode;	       /* of the pts slave */
	char pty_group[CONF_NAME_MAX]; /* group of the pts slave; "" = the daemon's */
	int line;		       /* line of the section header, for messages */
};

struct conf_daemon {
	char *socket_path;
	unsigned socket_mode;
	char *socket_group;	   /* NULL = keep the daemon's group */
	unsigned client_queue_kib; /* output queue per client */
	unsigned max_clients;
	char user[64]; /* "" = no privilege separation; else the daemon's unprivileged user */
	unsigned reserved_clients;    /* of max_clients, for root and allowed users only */
	unsigned max_clients_per_uid; /* 0 = no cap; root and allowed users are exempt */
	bool allow_root_user;	      /* `user` may be a uid 0 user (testing the split as root) */
	bool allow_send;
	bool allow_control;		   /* recover, reload */
	int log_level;			   /* syslog priority */
	struct supervisor_daemon_conf sup; /* supervisor: plain values */
};

struct conf {
	char *path; /* file it came from, "" for built-in defaults */
	struct conf_daemon daemon;
	struct conf_channel *channels;
	unsigned nchannels;
};

/* Where a configuration error was found. */
struct conf_error {
	char file[256];
	int line; /* 0 = not tied to a line */
	char section[80];
	char key[64];
	char message[256];
};

/* Settings from the command line; they win over the file, also on reload. */
struct conf_overrides {
	const char *socket;	     /* NULL = keep */
	int socket_mode;	     /* -1 = keep */
	const char *socket_group;    /* NULL = keep */
	int log_level;		     /* -1 = keep */
	const char *const *channels; /* "NAME=DEVICE" each */
	unsigned nchannels;
};

/* A configuration with every default and no channel. NULL on ENOMEM. */
struct conf *conf_new(void);
/* Frees c; returns NULL. */
struct conf *conf_free(struct conf *c);
/* Reads path into a new configuration. 0, or -EINVAL (err says where) / -errno of fopen. */
int conf_load(const char *path, struct conf **out, struct conf_error *err);
/* Reads path whole, as conf_load() does (a regular file or /dev/null, 16 MiB at most),
 * into *out (malloc'd, NUL-terminated after its *len bytes). 0, or -errno with err set. */
int conf_load_text(const char *path, char **out, size_t *len, struct conf_error *err);
/* Parses len bytes read by conf_load_text() (a NUL among them is an error), as
 * conf_load() does; name is used in messages and as the path. 0 or -EINVAL with err. */
int conf_parse_text(const char *text, size_t len, const char *name, struct conf **out,
		    struct conf_error *err);
/* Parses INI text (name is used in messages). 0 or -EINVAL with err set. */
int conf_parse_string(const char *text, const char *name, struct conf **out,
		      struct conf_error *err);
/* Adds a channel NAME with DEVICE and defaults (command line). 0, -EEXIST, -EINVAL, -ENOMEM. */
int conf_add_channel(struct conf *c, const char *name, const char *device);
/* Applies command-line overrides. 0 or -EINVAL with err set. */
int conf_apply_overrides(struct conf *c, const struct conf_overrides *o, struct conf_error *err);
/* The daemon's way to get its configuration: path (NULL = none; a missing file is fine
 * when optional), then overrides, then checks. 0, or negative errno with err set. */
int conf_read(const char *path, bool optional, const struct conf_overrides *o, struct conf **out,
	      struct conf_error *err);
/* conf_read() from len bytes already read from path (text NULL: no file, the defaults),
 * so that two processes can act on one reading of the file. */
int conf_read_text(const char *text, size_t len, const char *path, const struct conf_overrides *o,
		   struct conf **out, struct conf_error *err);
/* Checks values that only make sense together (after overrides). 0 or -EINVAL with err. */
int conf_validate(const struct conf *c, struct conf_error *err);
/* Finds a channel by name; NULL if absent. */
const struct conf_channel *conf_find_channel(const struct conf *c, const char *name);
/* A reload's n keeps the [daemon] keys that are read only at start (socket, socket_mode,
 * socket_group, user, allow_root_user, kernel_log, journal_dir, kmsg_path, sysfs_root,
 * debugfs_root, firmware_dir, state_dir) at running's values. Their names, where n had
 * another value, go comma-separated into changed (cap bytes). How many, or -ENOMEM. */
int conf_keep_start_keys(struct conf *n, const struct conf *running, char *changed, size_t cap);
/* True when two channel configurations need the tty reopened to switch (device changed). */
bool conf_channel_needs_reopen(const struct conf_channel *a, const struct conf_channel *b);
/* Deep copy of one channel into dst (zeroed by the caller). 0 or -ENOMEM. */
int conf_channel_copy(struct conf_channel *dst, const struct conf_channel *src);
/* Frees a channel's strings. */
void conf_channel_clear(struct conf_channel *ch);
/* Name of a channel mode ("raw"). */
const char *conf_mode_to_string(enum conf_mode m);
/* Calls out for every key of [daemon] (ch NULL) or of channel ch with its value in
 * effect, defaults included (--check-config). */
void conf_each_key(const struct conf *c, const struct conf_channel *ch, confkey_out_fn out,
		   void *ud);
/* Why a uid 0 `user` is refused (without allow_root_user). */
#define CONF_ROOT_USER_MSG                                                                         \
	"is uid 0: the daemon would read clients, ttys and the kernel log as root; name an "       \
	"unprivileged user, or set allow_root_user = true to run the split as root on purpose"
/* True if name is root or a user with uid 0 (looked up in the user database). */
bool conf_user_is_root(const char *name);
/* Formats err as "file:line: [section] key: message" into buf. */
const char *conf_error_format(const struct conf_error *err, char *buf, size_t cap);

#endif
