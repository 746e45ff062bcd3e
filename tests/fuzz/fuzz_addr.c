/*
 * fuzz_addr.c: the address and prefix parsers operators and clients feed:
 * ctf_prefix_parse, ctf_prefix_list_parse, flush_job_parse_side (a job
 * side: "any" or a list) and ctf_sockaddr_parse (metrics-listen), on the
 * input as one C string.
 *
 * "@PATH" makes ctf_prefix_list_parse read a file. A fuzzer must never open
 * files (it would read whatever a mutation names, /dev/zero included), so
 * any input holding an '@' is skipped before it reaches the parsers: no
 * address contains one, so an '@' elsewhere in a list only ever reaches the
 * "bad item" path that other inputs cover.
 *
 * Oracles beyond the sanitizers: a parsed prefix has its host bits clear,
 * contains its own address, and formats to text that parses back to the
 * same prefix; a parsed list does the same item by item; error text is a
 * terminated string that fits its buffer; flush_job_parse_side agrees with
 * ctf_prefix_list_parse on everything but "any" and the empty list.
 */
#include <errno.h>
#include <sys/socket.h>

#include "addr.h"
#include "fuzz.h"
#include "job.h"

/* Small on purpose, and on the heap: truncation is exercised and any write
 * past the end is an ASan report. */
#define FUZZ_ERRLEN 40

static void
fuzz_check_prefix(const struct ctf_prefix *p)
{
    char buf[CTF_PREFIX_STRLEN];
    struct ctf_prefix back;
    union ctf_inaddr masked;

    FUZZ_CHECK(p->family == AF_INET || p->family == AF_INET6);
    FUZZ_CHECK(p->plen <= (p->family == AF_INET ? 32 : 128));
    masked = p->addr;
    ctf_inaddr_mask(p->family, &masked, p->plen);
    FUZZ_CHECK(!memcmp(&masked, &p->addr, sizeof masked));
    FUZZ_CHECK(ctf_prefix_contains(p, p->family, &p->addr));
    FUZZ_CHECK(ctf_prefix_is_host(p) == (p->plen == (p->family == AF_INET ? 32 : 128)));

    ctf_prefix_format(p, buf);
    FUZZ_CHECK(ctf_prefix_parse(buf, &back) == 0);
    FUZZ_CHECK(ctf_prefix_cmp(p, &back) == 0);
}

static bool
fuzz_lists_equal(const struct ctf_prefix_list *a, const struct ctf_prefix_list *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (ctf_prefix_cmp(&a->items[i], &b->items[i])) {
            return false;
        }
    }
    return true;
}

/* The list written out comma-separated parses back to the same list. */
static void
fuzz_check_list_roundtrip(const struct ctf_prefix_list *l)
{
    char *text = fuzz_xmalloc(l->n * (CTF_PREFIX_STRLEN + 1) + 1);
    struct ctf_prefix_list back = { 0 };
    size_t off = 0;

    text[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        char buf[CTF_PREFIX_STRLEN];

        fuzz_check_prefix(&l->items[i]);
        off += (size_t) sprintf(text + off, "%s%s", i ? "," : "",
                                ctf_prefix_format(&l->items[i], buf));
    }
    FUZZ_CHECK(ctf_prefix_list_parse(&back, text, NULL, 0) == 0);
    FUZZ_CHECK(fuzz_lists_equal(l, &back));

    struct ctf_prefix_list copy = { 0 };
    FUZZ_CHECK(ctf_prefix_list_copy(&copy, l) == 0);
    FUZZ_CHECK(fuzz_lists_equal(l, &copy));

    ctf_prefix_list_destroy(&copy);
    ctf_prefix_list_destroy(&back);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctf_prefix_list list = { 0 }, side = { 0 };
    struct ctf_prefix p;
    char *err, *err2;
    char *s;
    bool any = false;
    int rc, rc2;

    if (memchr(data, '@', size)) {
        return 0;               /* Never a file: see the top of this file. */
    }
    s = fuzz_cstr(data, size);
    err = fuzz_xmalloc(FUZZ_ERRLEN);
    err2 = fuzz_xmalloc(FUZZ_ERRLEN);
    /* Unterminated garbage: the parsers must write a string. */
    memset(err, 'X', FUZZ_ERRLEN);
    memset(err2, 'X', FUZZ_ERRLEN);

    /* One address or prefix. */
    if (!ctf_prefix_parse(s, &p)) {
        fuzz_check_prefix(&p);
    }

    /* A listen address (metrics-listen): what parses formats to text that
     * parses back to the same socket address. */
    struct ctf_sockaddr sa, sa2;
    char sabuf[CTF_SOCKADDR_STRLEN];
    memset(err, 'X', FUZZ_ERRLEN);
    if (!ctf_sockaddr_parse(s, &sa, err, FUZZ_ERRLEN)) {
        ctf_sockaddr_format((struct sockaddr *) &sa.ss, sabuf);
        FUZZ_CHECK(ctf_sockaddr_parse(sabuf, &sa2, NULL, 0) == 0);
        FUZZ_CHECK(sa.len == sa2.len && !memcmp(&sa.ss, &sa2.ss, sa.len));
    } else {
        FUZZ_CHECK(fuzz_is_cstr(err, FUZZ_ERRLEN) && err[0] != '\0');
    }
    memset(err, 'X', FUZZ_ERRLEN);

    /* A list, as the command line and set-ips take it. */
    rc = ctf_prefix_list_parse(&list, s, err, FUZZ_ERRLEN);
    FUZZ_CHECK(fuzz_is_cstr(err, FUZZ_ERRLEN));
    if (rc) {
        FUZZ_CHECK(rc == EINVAL || rc == ENOMEM);
        FUZZ_CHECK(rc == ENOMEM || err[0] != '\0');
    } else {
        FUZZ_CHECK(err[0] == '\0');
        fuzz_check_list_roundtrip(&list);
    }
    /* Without an error buffer: the same answer. */
    struct ctf_prefix_list quiet = { 0 };
    FUZZ_CHECK(ctf_prefix_list_parse(&quiet, s, NULL, 0) == rc);
    FUZZ_CHECK(fuzz_lists_equal(&list, &quiet));
    ctf_prefix_list_destroy(&quiet);

    /* A job side: "any", or a list that must not be empty. */
    rc2 = flush_job_parse_side(&side, &any, s, err2, FUZZ_ERRLEN);
    if (!strcmp(s, "any")) {
        FUZZ_CHECK(rc2 == 0 && any && side.n == 0);
    } else {
        FUZZ_CHECK(fuzz_is_cstr(err2, FUZZ_ERRLEN));
        FUZZ_CHECK(!any);
        if (rc) {
            FUZZ_CHECK(rc2 == rc);
        } else if (!list.n) {
            FUZZ_CHECK(rc2 == EINVAL);
        } else {
            FUZZ_CHECK(rc2 == 0 && fuzz_lists_equal(&list, &side));
        }
    }

    ctf_prefix_list_destroy(&side);
    ctf_prefix_list_destroy(&list);
    free(err2);
    free(err);
    free(s);
    return 0;
}
