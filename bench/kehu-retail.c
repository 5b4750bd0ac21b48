/* kehu-retail: the UCI "Online Retail" data set (../shared/data) as Kehu
 * import files, so that the rules can be measured on data nobody here made
 * up.
 *
 *   xz -dc online_retail.csv.xz | kehu-retail DIR
 *
 * writes DIR/customers.csv (ext_ref UCI-<CustomerID>, a name, the country as
 * region, "since" the first invoice) and DIR/txns.csv (one transaction per
 * invoice: its date and the exact sum of its lines, negative for a
 * cancellation, product and channel "online"). Lines without a CustomerID
 * (a quarter of them) are skipped, as are invoices that sum to zero. Amounts
 * are computed in thousandths (prices have up to three decimals) and rounded
 * half away from zero to fen once per invoice. Prints what it wrote. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

enum { F_INVOICE, F_STOCK, F_DESCRIPTION, F_QUANTITY, F_DATE, F_PRICE, F_CUSTOMER, F_COUNTRY, F_COUNT };

struct invoice {
    char no[16];
    long customer;
    char date[11];
    int64_t milli; /* thousandths of the currency unit */
};

struct customer {
    long id;
    char first[11];
    char country[64];
};

struct state {
    struct invoice *inv;
    size_t ninv, cap_inv;
    struct customer *cust;
    size_t ncust, cap_cust;
    uint64_t lines, skipped;
    const char *error;
    uint64_t error_line;
};

/* "2.55" or "-1.5" -> thousandths; -1 on anything else (with *ok = 0). */
static int64_t parse_milli(const char *s, int *ok)
{
    int neg = *s == '-';
    if (neg || *s == '+')
        s++;
    int64_t whole = 0, frac = 0;
    int digits = 0, fdigits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++)
        whole = whole * 10 + (*s - '0');
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            if (fdigits < 3)
                frac = frac * 10 + (*s - '0'), fdigits++;
    while (fdigits < 3)
        frac *= 10, fdigits++;
    *ok = *s == 0 && digits > 0 && whole < 1000000000;
    int64_t v = whole * 1000 + frac;
    return neg ? -v : v;
}

static int on_record(const char *const *f, const size_t *lens, size_t n, uint64_t line, void *arg)
{
    (void)lens;
    struct state *st = arg;
    if (line == 1)
        return 0; /* the header */
    st->lines++;
    if (n != F_COUNT) {
        st->error = "expected 8 fields";
        st->error_line = line;
        return 1;
    }
    if (!*f[F_CUSTOMER]) {
        st->skipped++;
        return 0;
    }
    int ok_q, ok_p;
    int64_t qty = parse_milli(f[F_QUANTITY], &ok_q), price = parse_milli(f[F_PRICE], &ok_p);
    char *end;
    long cust = strtol(f[F_CUSTOMER], &end, 10);
    if (!ok_q || !ok_p || *end || cust <= 0 || strlen(f[F_DATE]) < 10 || strlen(f[F_INVOICE]) >= 16) {
        st->error = "a quantity, price, customer, date or invoice number that is not one";
        st->error_line = line;
        return 1;
    }
    /* quantity is whole: qty / 1000 units at price thousandths each */
    int64_t amount = qty / 1000 * price;
    struct invoice *last = st->ninv ? &st->inv[st->ninv - 1] : NULL;
    if (!last || strcmp(last->no, f[F_INVOICE]) != 0) { /* the lines of an invoice are together */
        if (st->ninv == st->cap_inv) {
            st->cap_inv = st->cap_inv ? st->cap_inv * 2 : 4096;
            st->inv = realloc(st->inv, st->cap_inv * sizeof *st->inv);
        }
        last = &st->inv[st->ninv++];
        snprintf(last->no, sizeof last->no, "%s", f[F_INVOICE]);
        last->customer = cust;
        memcpy(last->date, f[F_DATE], 10);
        last->date[10] = 0;
        last->milli = 0;
    }
    last->milli += amount;
    if (st->ncust == st->cap_cust) {
        st->cap_cust = st->cap_cust ? st->cap_cust * 2 : 1024;
        st->cust = realloc(st->cust, st->cap_cust * sizeof *st->cust);
    }
    struct customer *c = &st->cust[st->ncust++];
    c->id = cust;
    memcpy(c->first, last->date, sizeof c->first);
    snprintf(c->country, sizeof c->country, "%s", f[F_COUNTRY]);
    return 0;
}

static int cmp_customer(const void *a, const void *b)
{
    const struct customer *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return strcmp(x->first, y->first);
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "kehu-retail: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return f;
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fputs("usage: xz -dc online_retail.csv.xz | kehu-retail DIR\n", stderr);
        return 2;
    }
    struct state st = { 0 };
    struct csv_reader *rd = csv_reader_new(NULL);
    csv_reader_set_delimiter(rd, ',');
    char buf[1 << 16];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, stdin)) > 0)
        rc = csv_reader_feed(rd, buf, n, on_record, &st);
    if (rc == 0)
        rc = csv_reader_finish(rd, on_record, &st);
    if (rc < 0 || st.error) {
        fprintf(stderr, "kehu-retail: %s%s%" PRIu64 "\n", rc < 0 ? csv_reader_error(rd) : st.error,
                st.error ? " at line " : "", st.error ? st.error_line : 0);
        return 1;
    }
    csv_reader_free(rd);

    /* customers: the first line of each (sorted by id, then date) */
    qsort(st.cust, st.ncust, sizeof *st.cust, cmp_customer);
    FILE *cf = open_out(argv[1], "customers.csv");
    fputs("ext_ref,name,kind,region,since,source\n", cf);
    size_t ncust = 0;
    for (size_t i = 0; i < st.ncust; i++) {
        if (i && st.cust[i].id == st.cust[i - 1].id)
            continue;
        /* a country is plain ASCII in this data set: no quoting needed but for commas, which none has */
        fprintf(cf, "UCI-%ld,Online customer %ld,corporate,%s,%s,b2b_platform\n", st.cust[i].id, st.cust[i].id,
                st.cust[i].country, st.cust[i].first);
        ncust++;
    }
    fclose(cf);

    FILE *tf = open_out(argv[1], "txns.csv");
    fputs("customer,date,amount,product,channel\n", tf);
    size_t ntx = 0;
    int64_t total = 0;
    for (size_t i = 0; i < st.ninv; i++) {
        int64_t m = st.inv[i].milli;
        int64_t fen = (m >= 0 ? m + 5 : m - 5) / 10;
        if (fen == 0)
            continue;
        fprintf(tf, "UCI-%ld,%s,%s%" PRId64 ".%02" PRId64 ",online,online\n", st.inv[i].customer, st.inv[i].date,
                fen < 0 ? "-" : "", (fen < 0 ? -fen : fen) / 100, (fen < 0 ? -fen : fen) % 100);
        ntx++;
        total += fen;
    }
    fclose(tf);
    printf("%" PRIu64 " lines (%" PRIu64 " without a customer, skipped): %zu customers, %zu invoices as "
           "transactions, %" PRId64 ".%02" PRId64 " in all\n",
           st.lines, st.skipped, ncust, ntx, total / 100, total % 100);
    free(st.inv);
    free(st.cust);
    return 0;
}
