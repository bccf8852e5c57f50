/* The JSON-RPC byte scanner: the facts of one call for the method policy, read in one pass
 * with no tree, or "not sure" for jansson to decide. Every rule below is jansson's (2.14,
 * json_loadb with JSON_REJECT_DUPLICATES), or stricter: where the two could differ the
 * scanner gives up. */
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "util.h"
#include "proxy/rpcscan.h"

const char *const rpcscan_ledger_keys[RPCSCAN_LEDGER_KEY_COUNT] = {
    [RPCSCAN_LEDGER_INDEX] = "ledger_index",
    [RPCSCAN_LEDGER_SEQ] = "ledger_seq",
    [RPCSCAN_LEDGER_INDEX_MIN] = "ledger_index_min",
    [RPCSCAN_LEDGER_INDEX_MAX] = "ledger_index_max",
    [RPCSCAN_MIN_LEDGER] = "min_ledger",
    [RPCSCAN_MAX_LEDGER] = "max_ledger",
};

/* A key name with its length: every key of every request is compared with these. */
struct name {
	const char *s;
	size_t len;
};
#define NAME(lit)                                                                                  \
	{                                                                                          \
		lit, sizeof(lit) - 1                                                               \
	}

static const struct name secret_keys[] = {NAME("secret"), NAME("seed"), NAME("seed_hex"),
                                          NAME("passphrase")};
/* rpcscan_ledger_keys, with their lengths */
static const struct name ledger_keys[RPCSCAN_LEDGER_KEY_COUNT] = {
    [RPCSCAN_LEDGER_INDEX] = NAME("ledger_index"),
    [RPCSCAN_LEDGER_SEQ] = NAME("ledger_seq"),
    [RPCSCAN_LEDGER_INDEX_MIN] = NAME("ledger_index_min"),
    [RPCSCAN_LEDGER_INDEX_MAX] = NAME("ledger_index_max"),
    [RPCSCAN_MIN_LEDGER] = NAME("min_ledger"),
    [RPCSCAN_MAX_LEDGER] = NAME("max_ledger"),
};

/* Where a value sits, for what is kept of it. */
enum slot {
	SLOT_NONE = 0,
	SLOT_METHOD,  /* top-level "method" */
	SLOT_COMMAND, /* top-level "command" */
	SLOT_PARAMS,  /* top-level "params" */
	SLOT_PARAMS0, /* params[0] */
	SLOT_ID,      /* top-level "id" */
	SLOT_LEDGER,  /* a ledger key of the top level or of params[0] */
	SLOT_COUNT
};

/* What an object is: its keys mean something only at the top and in params[0]. */
enum role {
	ROLE_OTHER = 0,
	ROLE_TOP,
	ROLE_PARAMS, /* the "params" array */
	ROLE_PARAMS0,
	ROLE_COUNT
};

struct key {
	const char *p;
	size_t len;
};

struct scan {
	const char *p, *end;
	struct rpcscan_call *out;
	struct key keys[RPCSCAN_KEYS]; /* the keys of the open objects, innermost last */
	unsigned n_keys;
	struct rpcscan_ledgers *ledgers; /* SLOT_LEDGER: where its value goes */
	unsigned ledger_key;
};

/* Lengths first, then first bytes: most keys differ there (no call to memcmp). */
static bool key_is(const char *k, size_t n, const struct name *name)
{
	return name->len == n && n > 0 && k[0] == name->s[0] && memcmp(k, name->s, n) == 0;
}

#define KEY_IS(k, lit) ((k)->len == sizeof(lit) - 1 && memcmp((k)->p, lit, sizeof(lit) - 1) == 0)

bool rpcscan_secret_key(const char *k, size_t n)
{
	switch (n) { /* every key of every request asks: by length first (secret_keys' lengths) */
	case 4:
	case 6:
	case 8:
	case 10:
		for (size_t i = 0; i < ARRAY_SIZE(secret_keys); i++)
			if (key_is(k, n, &secret_keys[i]))
				return true;
		return false;
	default:
		return false;
	}
}

static void skip_ws(struct scan *sc)
{
	while (sc->p < sc->end &&
	       (*sc->p == ' ' || *sc->p == '\n' || *sc->p == '\r' || *sc->p == '\t'))
		sc->p++;
}

/* At '"': the string's bytes (without the quotes) in *S. False: not sure (a \u escape, a
 * control character, a byte over 0x7f: jansson checks UTF-8 and NULs) or not ended.
 * *ESCAPED: it held a simple escape (\n, \", ...), so its bytes are not its value. */
static bool scan_string(struct scan *sc, struct key *s, bool *escaped)
{
	const char *p = sc->p + 1;

	*escaped = false;
	s->p = p;
#ifdef __SSE2__
	/* 16 bytes at a time to the first quote, backslash, control byte or byte over 0x7f
	 * (signed: those are negative); the loop below decides it */
	const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(' ');
	while (sc->end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned m = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)),
		                 _mm_cmplt_epi8(x, sp)));
		if (m != 0) {
			p += __builtin_ctz(m);
			break;
		}
		p += 16;
	}
#endif
	for (; p < sc->end; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"') {
			s->len = (size_t)(p - s->p);
			sc->p = p + 1;
			return true;
		}
		if (c < 0x20 || c > 0x7f)
			return false;
		if (c == '\\') {
			if (++p == sc->end || strchr("\"\\/bfnrt", *p) == NULL || *p == '\0')
				return false;
			*escaped = true;
		}
	}
	return false;
}

/* A number by jansson's grammar. *INTEGER with *VALUE (its magnitude) and *NEG for an
 * integer of at most 18 digits; reals without an exponent pass as reals. Not sure: "-0",
 * longer integers (jansson refuses those past int64), exponents (overflow), long reals. */
static bool scan_number(struct scan *sc, bool *integer, uint64_t *value, bool *neg)
{
	const char *p = sc->p, *digits;
	uint64_t v = 0;

	*neg = p < sc->end && *p == '-';
	if (*neg)
		p++;
	digits = p;
	if (p == sc->end || *p < '0' || *p > '9')
		return false;
	if (*p == '0') {
		p++;
		if (p < sc->end && *p >= '0' && *p <= '9')
			return false; /* a leading zero: jansson refuses it */
	} else {
		while (p < sc->end && *p >= '0' && *p <= '9')
			v = v * 10 + (uint64_t)(*p++ - '0');
		if (p - digits > 18)
			return false;
	}
	*integer = true;
	if (p < sc->end && *p == '.') {
		*integer = false;
		if (++p == sc->end || *p < '0' || *p > '9')
			return false;
		while (p < sc->end && *p >= '0' && *p <= '9')
			p++;
		if (p - digits > 300)
			return false;
	}
	if (p < sc->end && (*p == 'e' || *p == 'E'))
		return false;
	if (*integer && *neg && v == 0)
		return false; /* "-0": jansson's integer 0 */
	*value = v;
	sc->p = p;
	return true;
}

/* true, false or null. */
static bool scan_literal(struct scan *sc)
{
	static const char *const lits[] = {"true", "false", "null"};
	size_t left = (size_t)(sc->end - sc->p);

	for (size_t i = 0; i < ARRAY_SIZE(lits); i++) {
		size_t n = strlen(lits[i]);
		if (left >= n && memcmp(sc->p, lits[i], n) == 0) {
			sc->p += n;
			return true;
		}
	}
	return false;
}

/* A ledger named by a decimal string (rpc.c's ledger_number): starts with a digit, at most
 * 10 characters, all digits, at most UINT32_MAX. */
static void ledger_string(struct scan *sc, const struct key *s)
{
	uint64_t v = 0;

	if (s->len == 0 || s->len > 10)
		return;
	for (size_t i = 0; i < s->len; i++) {
		if (s->p[i] < '0' || s->p[i] > '9')
			return;
		v = v * 10 + (uint64_t)(s->p[i] - '0');
	}
	if (v > UINT32_MAX)
		return;
	sc->ledgers->has[sc->ledger_key] = true;
	sc->ledgers->v[sc->ledger_key] = (uint32_t)v;
}

static bool scan_value(struct scan *sc, enum slot slot, unsigned depth);

/* The slot of the value of key K in an object of ROLE; "vetoed" is noted on the way. */
static enum slot key_slot(struct scan *sc, enum role role, const struct key *k)
{
	struct rpcscan_ledgers *l = role == ROLE_TOP ? &sc->out->top : &sc->out->params0;

	if (role != ROLE_TOP && role != ROLE_PARAMS0)
		return SLOT_NONE;
	if (KEY_IS(k, "vetoed")) {
		*(role == ROLE_TOP ? &sc->out->vetoed_top : &sc->out->vetoed_params0) = true;
		return SLOT_NONE;
	}
	for (unsigned i = 0; i < RPCSCAN_LEDGER_KEY_COUNT; i++)
		if (key_is(k->p, k->len, &ledger_keys[i])) {
			sc->ledgers = l;
			sc->ledger_key = i;
			return SLOT_LEDGER;
		}
	if (role != ROLE_TOP)
		return SLOT_NONE;
	if (KEY_IS(k, "method"))
		return SLOT_METHOD;
	if (KEY_IS(k, "command"))
		return SLOT_COMMAND;
	if (KEY_IS(k, "params"))
		return SLOT_PARAMS;
	if (KEY_IS(k, "id"))
		return SLOT_ID;
	return SLOT_NONE;
}

/* A key of the innermost object, whose keys start at keys[FIRST]: refused when it repeats
 * one (jansson's JSON_REJECT_DUPLICATES), or when no room is left to remember it. */
static bool key_add(struct scan *sc, unsigned first, const struct key *k)
{
	for (unsigned i = first; i < sc->n_keys; i++)
		if (sc->keys[i].len == k->len && memcmp(sc->keys[i].p, k->p, k->len) == 0)
			return false;
	if (sc->n_keys == RPCSCAN_KEYS)
		return false;
	sc->keys[sc->n_keys++] = *k;
	if (rpcscan_secret_key(k->p, k->len))
		sc->out->secret = true;
	return true;
}

/* At '{'. */
static bool scan_object(struct scan *sc, enum role role, unsigned depth)
{
	unsigned first = sc->n_keys;
	struct key k;
	bool escaped;

	sc->p++;
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == '}') {
		sc->p++;
		return true;
	}
	for (;;) {
		if (sc->p == sc->end || *sc->p != '"' || !scan_string(sc, &k, &escaped) ||
		    escaped || !key_add(sc, first, &k))
			return false;
		skip_ws(sc);
		if (sc->p == sc->end || *sc->p != ':')
			return false;
		sc->p++;
		skip_ws(sc);
		if (!scan_value(sc, key_slot(sc, role, &k), depth + 1))
			return false;
		skip_ws(sc);
		if (sc->p == sc->end)
			return false;
		if (*sc->p++ == '}')
			break;
		if (sc->p[-1] != ',')
			return false;
		skip_ws(sc);
	}
	sc->n_keys = first;
	return true;
}

/* At '['. */
static bool scan_array(struct scan *sc, enum role role, unsigned depth)
{
	sc->p++;
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == ']') {
		sc->p++;
		return true;
	}
	for (unsigned i = 0;; i++) {
		enum slot slot = role == ROLE_PARAMS && i == 0 ? SLOT_PARAMS0 : SLOT_NONE;
		if (!scan_value(sc, slot, depth + 1))
			return false;
		skip_ws(sc);
		if (sc->p == sc->end)
			return false;
		if (*sc->p++ == ']')
			return true;
		if (sc->p[-1] != ',')
			return false;
		skip_ws(sc);
	}
}

static bool scan_string_value(struct scan *sc, enum slot slot)
{
	const char *start = sc->p;
	struct key s;
	bool escaped;

	if (!scan_string(sc, &s, &escaped))
		return false;
	if (slot == SLOT_NONE || slot == SLOT_PARAMS || slot == SLOT_PARAMS0)
		return true;
	if (escaped)
		return false; /* its bytes are not its value: jansson reads it */
	if (slot == SLOT_LEDGER) {
		ledger_string(sc, &s);
	} else if (slot == SLOT_ID) {
		sc->out->id = (struct rpcscan_str){start, (size_t)(sc->p - start)};
	} else {
		if (s.len > RPCSCAN_NAME_MAX)
			return false;
		*(slot == SLOT_METHOD ? &sc->out->method : &sc->out->command) =
		    (struct rpcscan_str){s.p, s.len};
	}
	return true;
}

static bool scan_number_value(struct scan *sc, enum slot slot)
{
	const char *start = sc->p;
	bool integer, neg;
	uint64_t v;

	if (!scan_number(sc, &integer, &v, &neg))
		return false;
	if (slot == SLOT_ID) {
		if (!integer)
			return false; /* jansson prints reals its own way */
		sc->out->id = (struct rpcscan_str){start, (size_t)(sc->p - start)};
	} else if (slot == SLOT_LEDGER && integer && !neg && v <= UINT32_MAX) {
		sc->ledgers->has[sc->ledger_key] = true;
		sc->ledgers->v[sc->ledger_key] = (uint32_t)v;
	}
	return true;
}

/* One value at sc->p, kept as SLOT says; then the next byte must end it. */
static bool scan_value(struct scan *sc, enum slot slot, unsigned depth)
{
	const char *start = sc->p;
	bool ok;

	if (sc->p == sc->end || depth >= RPCSCAN_DEPTH)
		return false;
	switch (*sc->p) {
	case '{':
		if (slot == SLOT_ID)
			return false;
		if (slot == SLOT_PARAMS0)
			sc->out->params0_object = true;
		return scan_object(sc, slot == SLOT_PARAMS0 ? ROLE_PARAMS0 : ROLE_OTHER, depth);
	case '[':
		if (slot == SLOT_ID)
			return false;
		if (slot == SLOT_PARAMS)
			sc->out->params_array = true;
		return scan_array(sc, slot == SLOT_PARAMS ? ROLE_PARAMS : ROLE_OTHER, depth);
	case '"':
		ok = scan_string_value(sc, slot);
		break;
	case 't':
	case 'f':
	case 'n':
		ok = scan_literal(sc);
		if (ok && slot == SLOT_ID)
			sc->out->id = (struct rpcscan_str){start, (size_t)(sc->p - start)};
		break;
	default:
		ok = scan_number_value(sc, slot);
	}
	/* jansson reads "1x" or "truex" as one bad token: only a delimiter may follow */
	return ok && (sc->p == sc->end || (*sc->p != '\0' && strchr(" \t\r\n,]}", *sc->p) != NULL));
}

bool rpcscan_call(const char *body, size_t len, struct rpcscan_call *out)
{
	struct scan sc; /* keys[] is filled as keys come: not cleared */

	sc.p = body;
	sc.end = body + len;
	sc.out = out;
	sc.n_keys = 0;
	sc.ledgers = NULL;
	sc.ledger_key = 0;

	memset(out, 0, sizeof(*out));
	skip_ws(&sc);
	if (sc.p == sc.end || *sc.p != '{' || !scan_object(&sc, ROLE_TOP, 0))
		return false; /* arrays (batches) and the rest: jansson */
	skip_ws(&sc);
	return sc.p == sc.end;
}
