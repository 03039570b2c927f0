/* Client protocol v1 objects: rendered by hand (FRAME is the hot path), STATUS with cJSON;
 * the names of errors, classes, encodings and policies. Requests are in proto_request.c. */
#include "proto.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "m7bridge/base64.h"
#include "m7bridge/classes.h"
#include "m7bridge/hex.h"
#include "m7bridge/numfmt.h"

#include "macro.h"
#include "m7bridge/utf8.h"

static const char *const err_names[PROTO_E_COUNT] = {
	[PROTO_E_NONE] = "none",
	[PROTO_E_BAD_JSON] = "bad_json",
	[PROTO_E_NOT_OBJECT] = "not_object",
	[PROTO_E_BAD_TYPE] = "bad_type",
	[PROTO_E_BAD_VALUE] = "bad_value",
	[PROTO_E_UNKNOWN_CMD] = "unknown_cmd",
	[PROTO_E_MISSING_MEMBER] = "missing_member",
	[PROTO_E_TOO_LONG] = "too_long",
	[PROTO_E_FLOOD] = "flood",
	[PROTO_E_NO_CHANNEL] = "no_channel",
	[PROTO_E_CHANNEL_DOWN] = "channel_down",
	[PROTO_E_SEND_FAILED] = "send_failed",
	[PROTO_E_TIMEOUT] = "timeout",
	[PROTO_E_FORBIDDEN] = "forbidden",
	[PROTO_E_BUSY] = "busy",
	[PROTO_E_UNSUPPORTED] = "unsupported",
	[PROTO_E_INTERNAL] = "internal",
	[PROTO_E_UNKNOWN_CHANNEL] = "unknown_channel",
	[PROTO_E_UNKNOWN_PORT] = "unknown_port",
};

const char *proto_err_to_string(enum proto_err code)
{
	if ((unsigned)code >= PROTO_E_COUNT)
		return "internal";
	return err_names[code];
}

/* The streamable classes of the shared list, with their watch-filter bits. */
#define NO_CLASS(n)
#define STREAM_CLASS(n) {PROTO_C_##n, #n},
static const struct {
	unsigned bit;
	const char *name;
} stream_classes[] = {M7B_CLASSES(NO_CLASS, STREAM_CLASS)
		      /* daemon-only until the library has an event type for it */
		      {PROTO_C_CLOCK, "CLOCK"}};
#undef NO_CLASS
#undef STREAM_CLASS

unsigned proto_class_from_string(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(stream_classes); i++)
		if (strcmp(name, stream_classes[i].name) == 0)
			return stream_classes[i].bit;
	return 0;
}

const char *proto_class_to_string(unsigned cls)
{
	for (size_t i = 0; i < ARRAY_SIZE(stream_classes); i++)
		if (cls == stream_classes[i].bit)
			return stream_classes[i].name;
	return "unknown";
}

static const char *const encoding_names[] = {
	[PROTO_ENC_BASE64] = "base64",
	[PROTO_ENC_HEX] = "hex",
};
DEFINE_STRING_TABLE_LOOKUP(proto_encoding, enum proto_encoding, encoding_names)

static const char *const policy_names[] = {
	[PROTO_POLICY_DROP] = "drop",
	[PROTO_POLICY_DISCONNECT] = "disconnect",
};
DEFINE_STRING_TABLE_LOOKUP(proto_policy, enum proto_policy, policy_names)

static const char *const hb_names[M7B_HB_NCOUNTERS] = {
	[M7B_HB_UART_RX_BYTES] = "uart_rx_bytes",
	[M7B_HB_CAPTURES] = "captures",
	[M7B_HB_CAPTURES_DROPPED] = "captures_dropped",
	[M7B_HB_UART_OVERRUNS] = "uart_overruns",
	[M7B_HB_UART_LINE_ERRORS] = "uart_line_errors",
	[M7B_HB_HOST_FRAMES] = "host_frames",
	[M7B_HB_HOST_BAD] = "host_bad",
	[M7B_HB_HOST_UNKNOWN] = "host_unknown",
	[M7B_HB_UART_TX_BYTES] = "uart_tx_bytes",
	[M7B_HB_LINK_STALLS] = "link_stalls",
	[M7B_HB_CREDITS] = "credits",
	[M7B_HB_LOGS_DROPPED] = "logs_dropped",
	[M7B_HB_NOISE_BYTES] = "noise_bytes",
	[M7B_HB_SYNCS_DROPPED] = "syncs_dropped",
	[M7B_HB_ACKS_DROPPED] = "acks_dropped",
	[M7B_HB_HOST_NO_CREDIT] = "host_no_credit",
	[M7B_HB_HOST_VOIDED] = "host_voided",
};

const char *proto_hb_counter_name(unsigned i)
{
	return i < M7B_HB_NCOUNTERS && hb_names[i] ? hb_names[i] : "unknown";
}

/* ---- encoders ---- */

static const char hexd[] = "0123456789abcdef";

int proto_quote(char *dst, size_t cap, const void *src, size_t n)
{
	const uint8_t *s = src;
	size_t o = 0;
#define PUT(ch)                                                                                    \
	do {                                                                                       \
		if (o >= cap)                                                                      \
			return -ENOSPC;                                                            \
		dst[o++] = (char)(ch);                                                             \
	} while (0)
	PUT('"');
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		if (c == '"' || c == '\\') {
			PUT('\\');
			PUT(c);
			i++;
		} else if (c < 0x20 || c == 0x7F) {
			const char *esc = NULL;
			switch (c) {
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			default:
				break;
			}
			if (esc) {
				PUT(esc[0]);
				PUT(esc[1]);
			} else {
				PUT('\\');
				PUT('u');
				PUT('0');
				PUT('0');
				PUT(hexd[c >> 4]);
				PUT(hexd[c & 15]);
			}
			i++;
		} else if (c < 0x80) {
			PUT(c);
			i++;
		} else {
			size_t l = m7b_utf8_seq(s + i, n - i);
			if (l == 0) {
				/* U+FFFD REPLACEMENT CHARACTER keeps the line valid UTF-8. */
				PUT(0xEF);
				PUT(0xBF);
				PUT(0xBD);
				i++;
			} else {
				for (size_t k = 0; k < l; k++)
					PUT(s[i + k]);
				i += l;
			}
		}
	}
	PUT('"');
#undef PUT
	return (int)o;
}

/* ---- a tiny append buffer for the hand-rendered objects ---- */

struct out {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void put(struct out *o, const void *s, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* A string literal: its length is known at compile time, no strlen per piece. */
#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

static void put_u64(struct out *o, uint64_t v)
{
	if (!o->overflow && o->cap - o->len >= M7B_U64_DEC_MAX) {
		o->len += m7b_fmt_u64(o->p + o->len, v);
		return;
	}
	char tmp[M7B_U64_DEC_MAX];
	put(o, tmp, m7b_fmt_u64(tmp, v));
}

static void put_quoted(struct out *o, const char *s, size_t n)
{
	if (o->overflow)
		return;
	int r = proto_quote(o->p + o->len, o->cap - o->len, s, n);
	if (r < 0)
		o->overflow = true;
	else
		o->len += (size_t)r;
}

/* ,"key":"value" */
static void put_member_str(struct out *o, const char *key, const char *val)
{
	PUT_LIT(o, ",\"");
	puts_(o, key);
	PUT_LIT(o, "\":");
	put_quoted(o, val, strlen(val));
}

static void put_member_u64(struct out *o, const char *key, uint64_t v)
{
	PUT_LIT(o, ",\"");
	puts_(o, key);
	PUT_LIT(o, "\":");
	put_u64(o, v);
}

static void put_id(struct out *o, const char *id)
{
	if (id && id[0]) {
		PUT_LIT(o, ",\"id\":");
		puts_(o, id);
	}
}

static int finish(struct out *o)
{
	PUT_LIT(o, "}\n");
	return o->overflow ? -ENOSPC : (int)o->len;
}

/* ---- FRAME: the hot path ---- */

/* Room a FRAME needs besides the names and the payload text: every literal piece (under
 * 256 bytes), ten numbers of up to 20 digits, the whole words stored past the last one,
 * the fixed-size copy of a name piece and base64's NUL. One check against it replaces one
 * per piece. */
#define FRAME_FIXED_MAX 512

/* The line's helpers go inline whatever the compiler's size estimate says: a call costs
 * about as much as what they do. */
#define HOT static inline __attribute__((always_inline))

/* A test the usual line passes: its way laid out in line, not jumped to and back. */
#define USUAL(x) __builtin_expect(!!(x), 1)

/* Appends a literal at p; the caller has checked the room. */
#define LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

/* The bytes of a literal of n as whole stores (4, 8, 16, then 4 at a time): what follows it
 * overwrites the rest (zeros from LIT_PAD), so a key of 9 to 16 bytes is one 16-byte store
 * where its exact length takes up to four. */
#define LIT_WIDTH(n) ((n) <= 4 ? 4 : (n) <= 8 ? 8 : (n) <= 16 ? 16 : ((n) + 3) / 4 * 4)
#define LIT_PAD	     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
#define LITW(p, lit) (memcpy((p), lit LIT_PAD, LIT_WIDTH(sizeof(lit) - 1)), (p) + sizeof(lit) - 1)

int proto_frame_names_head(struct proto_frame_names *nm, const char *channel_json, size_t len)
{
	static const char start[] = "{\"class\":\"FRAME\",\"channel\":";
	static const char port[] = ",\"port\":";
	size_t n = sizeof(start) - 1 + len + sizeof(port) - 1;
	if (n > PROTO_FRAME_HEAD_MAX)
		return -ENOSPC;
	memset(nm->head, 0, sizeof(nm->head)); /* the fixed-size copy reads past the end */
	memcpy(nm->head, start, sizeof(start) - 1);
	memcpy(nm->head + sizeof(start) - 1, channel_json, len);
	memcpy(nm->head + n - (sizeof(port) - 1), port, sizeof(port) - 1);
	nm->head_len = n;
	return 0;
}

int proto_frame_names_port(struct proto_frame_names *nm, uint8_t port, const char *port_json,
			   size_t len)
{
	static const char key[] = ",\"port_name\":";
	size_t n = sizeof(key) - 1 + len;
	if (n > PROTO_FRAME_PNAME_MAX)
		return -ENOSPC;
	char *m = calloc(1, n > PROTO_FRAME_PIECE_READ ? n : PROTO_FRAME_PIECE_READ);
	if (!m)
		return -ENOMEM;
	memcpy(m, key, sizeof(key) - 1);
	memcpy(m + sizeof(key) - 1, port_json, len);
	free(nm->port_name[port]);
	nm->port_name[port] = m;
	nm->port_name_len[port] = n;
	return 0;
}

void proto_frame_names_clear(struct proto_frame_names *nm)
{
	for (size_t p = 0; p < ARRAY_SIZE(nm->port_name); p++)
		free(nm->port_name[p]);
	memset(nm, 0, sizeof(*nm));
}

/* A name piece: short ones as one fixed-size block (no call), the bytes after them
 * overwritten by what follows. */
HOT char *put_piece(char *p, const char *s, size_t n)
{
	if (USUAL(n <= PROTO_FRAME_PIECE_READ))
		memcpy(p, s, PROTO_FRAME_PIECE_READ);
	else
		memcpy(p, s, n);
	return p + n;
}

/* 0..999 as text and length, for the port and the payload length: one 4-byte store of the
 * digits, the length in the fourth byte (overwritten by what follows), so one table row. */
#define D10(D, h)                                                                                  \
	D(h##0), D(h##1), D(h##2), D(h##3), D(h##4), D(h##5), D(h##6), D(h##7), D(h##8), D(h##9)
#define D100(D, h)                                                                                 \
	D10(D, h##0), D10(D, h##1), D10(D, h##2), D10(D, h##3), D10(D, h##4), D10(D, h##5),        \
		D10(D, h##6), D10(D, h##7), D10(D, h##8), D10(D, h##9)
#define D1000(D)                                                                                   \
	D(0), D(1), D(2), D(3), D(4), D(5), D(6), D(7), D(8), D(9), D10(D, 1), D10(D, 2),          \
		D10(D, 3), D10(D, 4), D10(D, 5), D10(D, 6), D10(D, 7), D10(D, 8), D10(D, 9),       \
		D100(D, 1), D100(D, 2), D100(D, 3), D100(D, 4), D100(D, 5), D100(D, 6),            \
		D100(D, 7), D100(D, 8), D100(D, 9)
/* Digit k (0 first) of n's text; 0 past its end. */
#define DEC3_DIGIT(n, k, len)                                                                      \
	((k) < (len) ? '0' + (n) / ((len) - (k) == 3 ? 100 : (len) - (k) == 2 ? 10 : 1) % 10 : 0)
#define DEC3_LEN(n) ((n) < 10 ? 1 : (n) < 100 ? 2 : 3)
#define DEC3(n)                                                                                    \
	{                                                                                          \
		DEC3_DIGIT(n, 0, DEC3_LEN(n)), DEC3_DIGIT(n, 1, DEC3_LEN(n)),                      \
			DEC3_DIGIT(n, 2, DEC3_LEN(n)), DEC3_LEN(n)                                 \
	}
static const char dec3[1000][4] = {D1000(DEC3)};
#undef DEC3
#undef DEC3_LEN
#undef DEC3_DIGIT
#undef D1000
#undef D100
#undef D10

HOT char *put_dec3(char *p, unsigned v)
{
	uint32_t w; /* the count taken from the word loaded, not loaded again */
	memcpy(&w, dec3[v], 4);
	memcpy(p, &w, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return p + (w >> 24);
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return p + (w & 0xff);
#else
	return p + (unsigned char)dec3[v][3];
#endif
}

/* Appends a literal key and a number, e.g. ,"seq":17, at p; returns the new end. */
HOT char *key_u64(char *p, const char *key, size_t key_len, uint64_t v)
{
	memcpy(p, key, LIT_WIDTH(key_len));
	p += key_len;
	return p + m7b_fmt_u64_inline(p, v);
}
#define KEY_U64(p, key, v) key_u64((p), key LIT_PAD, sizeof(key) - 1, (v))

#if defined(__BYTE_ORDER__) &&                                                                     \
	(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ || __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
/* seq and t_err_ns, usually both under 10^8, have their digits made together (eight each,
 * leading zeros kept); each is then stored as one word whose leading zeros its key covers. */
#define SMALL_PAIR 1

/* The number of w's leading '0's (first in memory) but the last digit's: 0 to 7. */
HOT unsigned lead0_bytes(uint64_t w)
{
	w -= 0x3030303030303030u; /* '0's to zero bytes; no borrows, every byte is a digit */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (unsigned)__builtin_ctzll(w | 1ull << 56) / 8;
#else
	return (unsigned)__builtin_clzll(w | 1u) / 8;
#endif
}

/* The key and the eight digits w at p, the digits' leading zeros under the key: the word
 * goes first, the key (of at least 7 bytes, stored exactly) over it, so no shift is needed. */
HOT char *key_small(char *p, const char *key, size_t key_len, uint64_t w)
{
	char *d = p + key_len - lead0_bytes(w);
	memcpy(d, &w, 8);
	memcpy(p, key, key_len);
	return d + 8;
}
#define KEY_SMALL(p, key, w) key_small((p), (key), sizeof(key) - 1, (w))
#endif

/* Makes the memo that of hi (> 0) times 10^8; the rare way, out of line. */
static __attribute__((noinline, cold)) void memo_set(struct proto_ns_memo *m, uint64_t hi)
{
	m->prev_base = m->base;
	m->prev_lim = m->lim;
	m->prev_len = m->len;
	memcpy(m->prev_text, m->text, sizeof(m->text));
	m->base = hi * 100000000u;
	m->base_x2[0] = m->base_x2[1] = m->base;
	/* The last such range ends at UINT64_MAX: times past it wrap to small ones. */
	m->lim = m->base > UINT64_MAX - 100000000u ? UINT64_MAX - m->base + 1 : 100000000u;
	m->len = m7b_fmt_u64(m->text, hi);
}

/* A mapped time at p: its leading digits copied from the memo when they are last time's
 * (else made and kept there), the last eight made. Returns the end. */
HOT char *put_ns(char *p, struct proto_ns_memo *m, uint64_t v)
{
	uint64_t lo = v - m->base; /* wraps below it */
	if (lo >= m->lim) {
		uint64_t hi = v / 100000000u;
		if (!hi)
			return p + m7b_fmt_u64_inline(p, v);
		memo_set(m, hi);
		lo = v - m->base;
	}
	memcpy(p, m->text, 16); /* hi has at most 12 digits */
	m7b_fmt_dec8(p + m->len, (uint32_t)lo);
	return p + m->len + 8;
}

/* A mapped time at p through the range the memo left last (a capture that straddles a
 * multiple of 10^8 has its first time there, line after line), else in full. */
static __attribute__((noinline, cold)) char *put_ns_prev(char *p, const struct proto_ns_memo *m,
							 uint64_t v)
{
	uint64_t lo = v - m->prev_base; /* wraps below it */
	if (lo >= m->prev_lim)
		return p + m7b_fmt_u64(p, v);
	memcpy(p, m->prev_text, 16); /* hi has at most 12 digits */
	m7b_fmt_dec8(p + m->prev_len, (uint32_t)lo);
	return p + m->prev_len + 8;
}

#if defined(__x86_64__) && defined(__SSE2__) && !defined(M7B_NUMFMT_PORTABLE)
/* A pair's two times less the memo's base in one subtraction, which leaves them in the
 * lanes their digits are made from. */
#define PAIR_SSE2 1
#endif

/* ,"ka":a,"kb":b for a capture's two mapped times or ticks, t[0] and t[1]: b's leading
 * digits are a's unless the capture crosses a multiple of 10^8; then b goes through the memo
 * and a through it when it has a's digits still, else through the range it left.
 * Else those digits are copied from the memo (made there when new) and both last eights made
 * together. The memo's range check stands in for the divisions. */
HOT char *key_pair_ns(char *p, struct proto_ns_memo *m, const char *ka, size_t ka_len,
		      const uint64_t *t, const char *kb, size_t kb_len)
{
	memcpy(p, ka, LIT_WIDTH(ka_len));
	p += ka_len;
#ifdef PAIR_SSE2
	__m128i v = _mm_sub_epi64(_mm_loadu_si128((const void *)t),
				  _mm_load_si128((const void *)m->base_x2));
	uint64_t la = (uint64_t)_mm_cvtsi128_si64(v);
	uint64_t lb = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v));
#else
	uint64_t la = t[0] - m->base, lb = t[1] - m->base; /* wrap below it */
#endif
	/* b is the later time: la <= lb < lim is two tests, where a bound on each took a maximum
	 * and one; a b before its a goes the rare way, which renders any pair. */
	if (__builtin_expect(la > lb || lb >= m->lim, 0)) {
		/* a and b read again here: kept in registers for this rare way, they cost the
		 * usual one two copies. */
		__asm__("" ::: "memory");
		uint64_t a = t[0], b = t[1];
		uint64_t hi = a / 100000000u;
		if (!hi || b / 100000000u != hi) {
			/* The memo goes to b, the later, or lines whose captures straddle a
			 * multiple (several ports, a burst) would remake it twice each. */
			p = la < m->lim ? put_ns(p, m, a) : put_ns_prev(p, m, a);
			memcpy(p, kb, kb_len);
			return put_ns(p + kb_len, m, b);
		}
		memo_set(m, hi);
		la = a - m->base;
		lb = b - m->base;
#ifdef PAIR_SSE2
		v = _mm_set_epi64x((long long)lb, (long long)la);
#endif
	}
	size_t nh = m->len;
	char d[16]; /* hi has at most 12 digits; read once, whatever the stores alias */
	memcpy(d, m->text, 16);
	memcpy(p, d, 16);
	char *da = p + nh;
	p = da + 8;
	memcpy(p, kb, LIT_WIDTH(kb_len));
	p += kb_len;
	memcpy(p, d, 16);
#ifdef PAIR_SSE2
	m7b_fmt_dec8_x2_epi64(da, p + nh, v);
#else
	m7b_fmt_dec8_x2(da, p + nh, (uint32_t)la, (uint32_t)lb);
#endif
	return p + nh + 8;
}
/* a, b: members in a row, a capture's first and last times or ticks. */
#define KEY_PAIR_NS(p, m, ka, a, kb, b)                                                            \
	key_pair_ns((p), (m), ka LIT_PAD, sizeof(ka) - 1, &(a), kb LIT_PAD, sizeof(kb) - 1)
_Static_assert(offsetof(struct proto_frame, t_last) == offsetof(struct proto_frame, t_first) + 8 &&
		       offsetof(struct proto_frame, t_last_ns) ==
			       offsetof(struct proto_frame, t_first_ns) + 8 &&
		       offsetof(struct proto_frame, t_last_mono_ns) ==
			       offsetof(struct proto_frame, t_first_mono_ns) + 8,
	       "struct proto_frame: each capture's two times in a row");

/* Bound of a payload's text in either encoding: 2 n for hex, 4 ceil(n / 3) <= 2 n + 2 for
 * base64. One bound, so that the base64 call is given its room without a division. */
#define FRAME_TEXT_MAX(n) (2 * (size_t)(n) + 2)
_Static_assert(FRAME_FIXED_MAX + PROTO_FRAME_HEAD_MAX + PROTO_FRAME_PNAME_MAX +
			       FRAME_TEXT_MAX(M7B_PAYLOAD_MAX) <=
		       PROTO_FRAME_MAX,
	       "every FRAME line fits PROTO_FRAME_MAX");

/* Room for the line: the pieces, the payload text and FRAME_FIXED_MAX for the rest. */
static size_t frame_len_max(const struct proto_frame_names *nm, const struct proto_frame *f)
{
	return FRAME_FIXED_MAX + nm->head_len + nm->port_name_len[f->port] +
	       FRAME_TEXT_MAX(f->nbytes);
}

HOT char *frame_payload(char *p, const struct proto_frame *f, const uint8_t *bytes,
			enum proto_encoding enc)
{
	size_t n = f->nbytes;
	if (enc == PROTO_ENC_HEX) {
		p = LIT(p, ",\"hex\":\"");
		for (size_t i = 0; i < n; i++) {
			p[2 * i] = hexd[bytes[i] >> 4];
			p[2 * i + 1] = hexd[bytes[i] & 15];
		}
		return p + n * 2;
	}
	p = LITW(p, ",\"data\":\"");
	/* Cannot fail: frame_len_max counted FRAME_TEXT_MAX and the NUL. */
	return p + m7b_base64_encode(bytes, n, p, FRAME_TEXT_MAX(n) + 1);
}

static char *frame_flags(char *p, uint8_t flags)
{
	p = LIT(p, ",\"flags\":[");
	char *first = p;
	if (flags & M7B_DATA_OVERRUN)
		p = LIT(p, ",\"overrun\"");
	if (flags & M7B_DATA_LINE_ERROR)
		p = LIT(p, ",\"line_error\"");
	if (flags & M7B_DATA_CONTINUED)
		p = LIT(p, ",\"continued\"");
	/* Drop the first separator: the list starts right after '['. */
	memmove(first, first + 1, (size_t)(p - first - 1));
	p[-1] = ']';
	return p;
}

/* flags, late, has_realtime and has_mono, in this order, as one word: the usual line has
 * none of the flags, is not late and has both times. */
_Static_assert(offsetof(struct proto_frame, late) == offsetof(struct proto_frame, flags) + 1 &&
		       offsetof(struct proto_frame, has_realtime) ==
			       offsetof(struct proto_frame, flags) + 2 &&
		       offsetof(struct proto_frame, has_mono) ==
			       offsetof(struct proto_frame, flags) + 3,
	       "struct proto_frame: flags, late, has_realtime, has_mono in a row");
#define FRAME_FLAGS (M7B_DATA_OVERRUN | M7B_DATA_LINE_ERROR | M7B_DATA_CONTINUED)

HOT uint32_t frame_tail_word(const struct proto_frame *f)
{
	uint32_t w;
	memcpy(&w, &f->flags, 4);
	return w;
}

HOT uint32_t frame_tail_bytes(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	const uint8_t v[4] = {a, b, c, d};
	uint32_t w;
	memcpy(&w, v, 4);
	return w;
}

/* The mapped times from ,"t_first_ns": on; realtime, mono: f's has_realtime and has_mono
 * (the usual line knows them already); we: t_err_ns's eight digits, or 0 when they were not
 * made (no digit is a zero byte). */
HOT char *frame_times(char *p, struct proto_ns_memo *memo, const struct proto_frame *f,
		      bool realtime, bool mono, uint64_t we)
{
	if (realtime)
		p = KEY_PAIR_NS(p, &memo[0], ",\"t_first_ns\":", f->t_first_ns,
				",\"t_last_ns\":", f->t_last_ns);
	if (mono) {
		p = KEY_PAIR_NS(p, &memo[1], ",\"t_first_mono_ns\":", f->t_first_mono_ns,
				",\"t_last_mono_ns\":", f->t_last_mono_ns);
#ifdef SMALL_PAIR
		if (USUAL(we))
			p = KEY_SMALL(p, ",\"t_err_ns\":", we);
		else
#endif
			p = KEY_U64(p, ",\"t_err_ns\":", f->t_err_ns);
	}
	return p;
}

/* The line from its flags on when it is not the usual one: out of line. */
static __attribute__((noinline)) char *frame_tail_rare(char *p, const struct proto_frame_names *nm,
						       struct proto_ns_memo *memo,
						       const struct proto_frame *f, uint64_t we)
{
	if (f->flags & FRAME_FLAGS)
		p = frame_flags(p, f->flags);
	if (nm->port_name[f->port])
		p = put_piece(p, nm->port_name[f->port], nm->port_name_len[f->port]);
	if (f->late)
		p = LIT(p, ",\"late\":true");
	return frame_times(p, memo, f, f->has_realtime, f->has_mono, we);
}

/* The whole line at p, which has frame_len_max() bytes of room; returns its end. */
HOT char *frame_line(char *p, const struct proto_frame_names *nm, struct proto_ns_memo *memo,
		     const struct proto_frame *f, const uint8_t *bytes, enum proto_encoding enc)
{
	p = put_piece(p, nm->head, nm->head_len);
	p = put_dec3(p, f->port);
	uint64_t we = 0;
#ifdef SMALL_PAIR
	/* t_err_ns's digits (zeros when not made) stay here and are read after the payload's
	 * call: held in a register across it, they were stored twice and loaded twice. */
	char de[8];
	/* t_err_ns is taken whether the line has it or not: its digits are then just unused. */
	if (USUAL(f->seq < 100000000u && f->t_err_ns < 100000000u)) {
		char ds[8];
		m7b_fmt_dec8_x2(ds, de, (uint32_t)f->seq, (uint32_t)f->t_err_ns);
		uint64_t ws;
		memcpy(&ws, ds, 8);
		p = KEY_SMALL(p, ",\"seq\":", ws);
	} else {
		memset(de, 0, 8);
		p = KEY_U64(p, ",\"seq\":", f->seq);
	}
#else
	p = KEY_U64(p, ",\"seq\":", f->seq);
#endif
	p = KEY_PAIR_NS(p, &memo[2], ",\"t_first\":", f->t_first, ",\"t_last\":", f->t_last);
	p = frame_payload(p, f, bytes, enc);
#ifdef SMALL_PAIR
	memcpy(&we, de, 8);
#endif
	p = LITW(p, "\",\"len\":");
	p = put_dec3(p, f->nbytes);
	/* One test for the members a usual line leaves out and the times it has. */
	if (USUAL((frame_tail_word(f) & frame_tail_bytes(FRAME_FLAGS, 1, 1, 1)) ==
		  frame_tail_bytes(0, 0, 1, 1)) &&
	    USUAL(!nm->port_name[f->port]))
		p = frame_times(p, memo, f, true, true, we); /* inline: callgrind shows no cost */
	else
		p = frame_tail_rare(p, nm, memo, f, we);
	return LITW(p, "}\n");
}

/* A tight buffer: render aside, then the exact length decides. */
static __attribute__((noinline)) int
frame_tight(char *buf, size_t cap, const struct proto_frame_names *nm, struct proto_ns_memo *memo,
	    const struct proto_frame *f, const uint8_t *bytes, enum proto_encoding enc)
{
	char tmp[PROTO_FRAME_MAX];
	size_t n = (size_t)(frame_line(tmp, nm, memo, f, bytes, enc) - tmp);
	if (n > cap)
		return -ENOSPC;
	memcpy(buf, tmp, n);
	return (int)n;
}

/* memo: the REALTIME and the MONOTONIC times' and the ticks', in that order. */
HOT int render_frame(char *buf, size_t cap, const struct proto_frame_names *nm,
		     struct proto_ns_memo *memo, const struct proto_frame *f, const uint8_t *bytes,
		     enum proto_encoding enc)
{
	/* The pieces are bounded when made: then every line fits PROTO_FRAME_MAX with room to
	 * spare. */
	if (f->nbytes > M7B_PAYLOAD_MAX)
		return -ENOSPC;
	if (cap < PROTO_FRAME_MAX && cap < frame_len_max(nm, f))
		return frame_tight(buf, cap, nm, memo, f, bytes, enc);
	return (int)(frame_line(buf, nm, memo, f, bytes, enc) - buf);
}

int proto_render_frame(char *buf, size_t cap, const struct proto_frame_names *nm,
		       const struct proto_frame *f, const uint8_t *bytes, enum proto_encoding enc)
{
	struct proto_ns_memo memo[3] = {{0}, {0}, {0}}; /* none */
	return render_frame(buf, cap, nm, memo, f, bytes, enc);
}

int proto_render_frame_memo(char *buf, size_t cap, struct proto_frame_names *nm,
			    const struct proto_frame *f, const uint8_t *bytes,
			    enum proto_encoding enc)
{
	return render_frame(buf, cap, nm, nm->memo, f, bytes, enc);
}

int proto_render_version(char *buf, size_t cap, const char *release)
{
	struct out o = {buf, 0, cap, false};
	PUT_LIT(&o, "{\"class\":\"VERSION\"");
	put_member_str(&o, "release", release);
	put_member_u64(&o, "proto_major", PROTO_MAJOR);
	put_member_u64(&o, "proto_minor", PROTO_MINOR);
	return finish(&o);
}

int proto_render_state(char *buf, size_t cap, const char *channel, const char *state,
		       const char *reason, const char *detail, const char *errno_name)
{
	struct out o = {buf, 0, cap, false};
	PUT_LIT(&o, "{\"class\":\"STATE\"");
	put_member_str(&o, "channel", channel);
	put_member_str(&o, "state", state);
	put_member_str(&o, "reason", reason);
	if (detail && detail[0])
		put_member_str(&o, "detail", detail);
	if (errno_name && errno_name[0])
		put_member_str(&o, "errno", errno_name);
	return finish(&o);
}

int proto_render_ack(char *buf, size_t cap, const char *id, const char *cmd, const char *channel,
		     bool has_seq, uint32_t seq)
{
	struct out o = {buf, 0, cap, false};
	PUT_LIT(&o, "{\"class\":\"ACK\"");
	put_id(&o, id);
	put_member_str(&o, "cmd", cmd);
	if (channel && channel[0])
		put_member_str(&o, "channel", channel);
	if (has_seq)
		put_member_u64(&o, "seq", seq);
	return finish(&o);
}

/* ERROR with the optional members: channel (when named), available (JSON array text). */
static int render_error(char *buf, size_t cap, const char *id, enum proto_err code,
			const char *message, const char *channel, const char *available_json)
{
	struct out o = {buf, 0, cap, false};
	PUT_LIT(&o, "{\"class\":\"ERROR\"");
	put_id(&o, id);
	put_member_str(&o, "code", proto_err_to_string(code));
	put_member_str(&o, "message", message ? message : proto_err_to_string(code));
	if (channel && channel[0])
		put_member_str(&o, "channel", channel);
	if (available_json) {
		puts_(&o, ",\"available\":");
		puts_(&o, available_json);
	}
	return finish(&o);
}

int proto_render_error(char *buf, size_t cap, const char *id, enum proto_err code,
		       const char *message, const char *channel)
{
	return render_error(buf, cap, id, code, message, channel, NULL);
}

int proto_render_error_available(char *buf, size_t cap, const char *id, enum proto_err code,
				 const char *message, const char *available_json)
{
	return render_error(buf, cap, id, code, message, NULL, available_json);
}

int proto_render_pong(char *buf, size_t cap, const char *id)
{
	struct out o = {buf, 0, cap, false};
	PUT_LIT(&o, "{\"class\":\"PONG\"");
	put_id(&o, id);
	return finish(&o);
}

int proto_render_dropped(char *buf, size_t cap, uint64_t count, uint64_t total, uint64_t raw_bytes,
			 uint64_t raw_bytes_total)
{
	struct out o = {buf, 0, cap, false};
	PUT_LIT(&o, "{\"class\":\"DROPPED\"");
	put_member_u64(&o, "count", count);
	put_member_u64(&o, "total", total);
	/* Only for a client that lost RAW objects: their lengths vary, so the bytes are what
	 * it needs to place every byte of the stream. */
	if (raw_bytes_total) {
		put_member_u64(&o, "raw_bytes", raw_bytes);
		put_member_u64(&o, "raw_bytes_total", raw_bytes_total);
	}
	return finish(&o);
}

static const char *const level_names[8] = {"emerg",   "alert",	"crit", "err",
					   "warning", "notice", "info", "debug"};

int proto_render_log(char *buf, size_t cap, const char *channel, uint8_t level, const char *text,
		     size_t text_len, uint32_t seq)
{
	struct out o = {buf, 0, cap, false};
	PUT_LIT(&o, "{\"class\":\"LOG\"");
	put_member_str(&o, "channel", channel);
	put_member_u64(&o, "level", level);
	PUT_LIT(&o, ",\"text\":");
	put_quoted(&o, text, text_len);
	if (level < 8)
		put_member_str(&o, "level_name", level_names[level]);
	put_member_u64(&o, "seq", seq);
	return finish(&o);
}

int proto_render_hello(char *buf, size_t cap, const char *channel, const struct m7b_hello *h,
		       bool new_boot)
{
	struct out o = {buf, 0, cap, false};
	PUT_LIT(&o, "{\"class\":\"HELLO\"");
	put_member_str(&o, "channel", channel);
	PUT_LIT(&o, ",\"name\":");
	put_quoted(&o, h->name ? h->name : "", h->name ? h->name_len : 0);
	put_member_u64(&o, "boot_id", h->boot_id);
	put_member_u64(&o, "tick_hz", h->tick_hz);
	put_member_u64(&o, "max_payload", h->max_payload);
	put_member_u64(&o, "host_credits", h->host_credits);
	put_member_u64(&o, "now_ticks", h->now_ticks);
	puts_(&o, new_boot ? ",\"new_boot\":true" : ",\"new_boot\":false");
	return finish(&o);
}

int proto_render_heartbeat(char *buf, size_t cap, const char *channel, uint32_t seq,
			   const struct m7b_heartbeat *hb)
{
	struct out o = {buf, 0, cap, false};
	PUT_LIT(&o, "{\"class\":\"HEARTBEAT\"");
	put_member_str(&o, "channel", channel);
	put_member_u64(&o, "seq", seq);
	put_member_u64(&o, "now_ticks", hb->now_ticks);
	PUT_LIT(&o, ",\"counters\":{");
	for (unsigned i = 0; i < hb->ncounters && i < M7B_HB_NCOUNTERS; i++) {
		if (i)
			PUT_LIT(&o, ",");
		PUT_LIT(&o, "\"");
		puts_(&o, proto_hb_counter_name(i));
		PUT_LIT(&o, "\":");
		put_u64(&o, hb->counter[i]);
	}
	PUT_LIT(&o, "}");
	return finish(&o);
}

int proto_render_fault(char *buf, size_t cap, const char *channel, const char *kind,
		       const char *detail, const char *source, uint64_t count)
{
	struct out o = {buf, 0, cap, false};
	PUT_LIT(&o, "{\"class\":\"FAULT\"");
	put_member_str(&o, "channel", channel);
	put_member_str(&o, "kind", kind);
	if (detail && detail[0])
		put_member_str(&o, "detail", detail);
	put_member_str(&o, "source", source);
	put_member_u64(&o, "count", count);
	return finish(&o);
}

/* ---- CLOCK ---- */

int proto_render_clock(char *buf, size_t cap, const char *channel, const struct proto_clock *c)
{
	struct out o = {buf, 0, cap, false};
	char num[64];
	puts_(&o, "{\"class\":\"CLOCK\"");
	put_member_str(&o, "channel", channel);
	put_member_str(&o, "source", c->source);
	puts_(&o, c->mapped ? ",\"mapped\":true" : ",\"mapped\":false");
	/* Unknown members are left out, never null. */
	if (c->mapped) {
		snprintf(num, sizeof(num), ",\"offset_ns\":%lld", (long long)c->offset_ns);
		puts_(&o, num);
		snprintf(num, sizeof(num), ",\"rate_ppm\":%.4f", c->rate_ppm);
		puts_(&o, num);
		snprintf(num, sizeof(num), ",\"rate_err_ppm\":%.4f", c->rate_err_ppm);
		puts_(&o, num);
		put_member_u64(&o, "err_ns", c->err_ns);
		put_member_u64(&o, "samples", c->samples);
		put_member_u64(&o, "updated_mono_ns", c->updated_mono_ns);
	}
	put_member_u64(&o, "epochs", c->epochs);
	put_member_u64(&o, "rejected", c->rejected);
	return finish(&o);
}
