/* Grading (docs/grading.md) checked against a computation of its own.
 *
 * The test writes a deterministic customer base straight into the test
 * database (a fixed-seed generator, plus hand-made customers at every edge
 * of the rules), runs kehud's grading through the protocol, and compares
 * every graded customer's every dimension with what this file computes from
 * the rule book, in C, in integers: money in fen, shares and ratios as exact
 * fractions (floor(n × share) exactly). It never reads the SQL that
 * implements the rules: the point is two independent readings of them.
 *
 * The runs, all evaluated as of past dates so that no grade depends on today
 * (only the override's until, which must lie ahead when given, does):
 *   R0  dry run as of D1 (2025-06-15) before any run: reports what R1 will, stores nothing
 *   R1  full as of D1: every customer x dimension, counts, moves, history, report abc
 *       (Pareto numbers, top), customer list by grade, churn warnings
 *   R2  abc.a_share 0.05 -> 0.10, full as of D1: B -> A moves only, history for them only
 *   R3  volume.a_min 1000000 -> 500000, full as of D1: volume and value tier move
 *   --  an admin's override (abc A, until tomorrow) reads at once; an account
 *       manager's raise to A is pending and changes nothing
 *   --  dry run as of D2 (2025-07-15): nothing changes (every grade, history, the runs)
 *   R4  full as of D2: the same counts and moves as the dry run; the admin's override applied
 *   --  the branch manager approves the pending raise (the account manager and another
 *       branch's may not); it reads at once; the admin's override's until is moved into
 *       the past (SQL, as it_session ages sessions), 2025-07-31
 *   R5  full as of D3 (2025-08-15): the expired override no longer applies, the approved one does
 *   R6  lifecycle run as of D4 (2025-10-15): only the lifecycle moves
 *   R7  abc.scope = branch, full as of D4
 *   R8  abc.metric = margin, full as of D4; report abc and its migration R7 -> R8
 *   R9  full as of D5 (2025-11-30): customers whose relationship began after D4 join
 *
 * A mismatch prints the phase, the customer (id and the case it was made
 * for), the dimension, expected and got, and why the model expects it
 * (metric, rank and cuts for abc; sales for volume; the arrears for credit
 * ...). Each phase ends with a one-line tally; the last line of the program
 * is the total.
 *
 * Where docs/grading.md leaves room, this test reads it so (the report says
 * the same):
 *  1. "D − N months" is PostgreSQL's date − interval 'N months' (the day
 *     clamped to the month's length); windows are (D − N months, D]. The
 *     evaluation dates avoid month ends, so the clamp never matters.
 *  2. A dimension without a grade (asset tier and credit "none", needs
 *     "none", potential without sales) is absent from the grades; a Grade
 *     whose grade is "none" is taken to mean the same.
 *  3. "Customers with sales in" the ABC window (needs, potential): the sum
 *     of amount over the window is > 0. margin / sales uses that sum, a
 *     missing margin counting 0; the window's halves split at D − window/2
 *     months, that day in the first half; their sales are sums of amount.
 *  4. won_back needs a purchase before the first one in (D − silent_days, D],
 *     and the last run's computed lifecycle silent, churned or won_back (a
 *     first grading never says won back);
 *     loyal counts only months of purchases on or before D.
 *  5. Counts, moves, "changed", history and the report are about effective
 *     grades (overrides applied). A first grading is a change from "" (so
 *     R1 writes one history row per dimension that has a grade and counts
 *     every graded customer as changed); is_new turning off while the grade
 *     stays C is not a change. A history row is one GradeChange per changed
 *     dimension. Grade.run_id is the run whose change set the grade;
 *     CustomerGrades.run_id and as_of are the last run that graded the
 *     customer (every run grades every live customer), as kehu.proto says.
 *  6. A run applies an override that is active (approved) when as_of <=
 *     until (no lower bound: an override given today applies to a run
 *     evaluated on a past date). Reading (GradeShow, CustomerGet,
 *     CustomerList) applies an active override while today <= until. A
 *     pending override changes nothing.
 *  7. Report abc: one row per effective ABC grade over all graded customers
 *     (new customers in C with their metric); customer_share = customers /
 *     graded customers; metric_total = the plain sum of the metric
 *     (negatives included); metric_share = metric_total / the sum over the
 *     grades. Shares are accepted as fractions (±0.0005) or percentages (±0.05).
 *  8. Churn: frequency_drop counts purchases (amount > 0), amount_drop adds
 *     their amounts; the expectation from the baseline is baseline ×
 *     recent_days / baseline_days; both strict "<".
 *  9. The asset tier applies to every customer with snapshots (nothing in
 *     the schema marks a branch as bank-style).
 * 10. Influence (by hand only, default medium) is not compared beyond
 *     "medium if present".
 * 11. A lifecycle run leaves every other dimension as it was; its counts
 *     and moves are checked for the lifecycle only, and GradeShow's metric,
 *     sales, AUM and score are not checked after it.
 */
#include <libpq-fe.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

#define NONE INT_MIN     /* no date */
#define FOREVER INT_MAX  /* an override without until */
#define NOM INT64_MIN    /* a transaction without a margin */
#define NOPCT 999        /* monthly(): no margin */

static struct it_org org;
static kehu_client *admin;

/* ---------------------------------------------------------------- dates (days since 1970-01-01, UTC) */

static int days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

#define DAY(y, m, d) days_from_civil(y, m, d)

static int month_len(int y, int m)
{
    static const int len[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : len[m - 1];
}

/* day + k months, as PostgreSQL's date + interval 'k months': the day clamped */
static int add_months(int day, int k)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    int t = y * 12 + (m - 1) + k;
    y = t / 12;
    m = t % 12 + 1;
    int l = month_len(y, m);
    return DAY(y, m, d < l ? d : l);
}

static int month_index(int day)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    return y * 12 + m - 1;
}

/* YYYY-MM-DD, "" for NONE (a ring of buffers: several may be used at once) */
static const char *dstr(int day)
{
    static char ring[32][32];
    static int next;
    char *s = ring[next++ % 32];
    if (day == NONE)
        return "";
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    snprintf(s, 32, "%04d-%02d-%02d", y, m, d);
    return s;
}

static int today(void)
{
    return (int)(time(NULL) / 86400);
}

/* fen as a numeric(18, 2) literal (a ring of buffers) */
static const char *money(int64_t fen)
{
    static char ring[16][32];
    static int next;
    char *s = ring[next++ % 16];
    uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    snprintf(s, 32, "%s%llu.%02llu", fen < 0 ? "-" : "", (unsigned long long)(a / 100), (unsigned long long)(a % 100));
    return s;
}

/* the evaluation dates */
static int D1, D2, D3, D4, D5;

/* ---------------------------------------------------------------- the data */

static uint64_t rng = 0x6b656875475244ULL; /* fixed seed */

static uint64_t rnd64(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rnd(int n)
{
    return (int)(rnd64() % (uint64_t)n);
}

enum { ST_ACTIVE, ST_IN_POOL, ST_ARCHIVED };
static const char *const status_names[] = { "active", "in_pool", "archived" };
static const char *const products[] = { "deposit", "fund", "wealth" };

struct cust {
    int64_t id;
    int branch; /* 0 上海分行 (owned by li.lei), 1 北京分行 (owned by bj.am) */
    int since, status, merged;
    char tag[64];
    int t0, tn, p0, pn, s0, sn, f0, fn; /* its rows, after index_build */
};
struct txn {
    int c, date, credit, due, seq;
    int64_t amount, margin; /* margin NOM: none */
};
struct pay {
    int c, date, seq;
    int64_t amount;
};
struct snap {
    int c, date, product, seq;
    int64_t balance;
};
struct fu {
    int c, date, seq;
};

static struct cust *cs;
static struct txn *tx;
static struct pay *py;
static struct snap *sn;
static struct fu *fus;
static int ncs, ntx, npy, nsn, nfu, seq;
static int cap_cs, cap_tx, cap_py, cap_sn, cap_fu;

#define PUSH(arr, n, cap)                                                                                             \
    (((n) == (cap) ? ((cap) = (cap) ? 2 * (cap) : 256, (arr) = realloc((arr), (size_t)(cap) * sizeof *(arr)),         \
                      (arr) ? 0 : (abort(), 0))                                                                       \
                   : 0),                                                                                              \
     &(arr)[(n)++])

static int add_c(const char *tag, int branch, int since)
{
    struct cust *c = PUSH(cs, ncs, cap_cs);
    memset(c, 0, sizeof *c);
    c->id = 1001 + (ncs - 1);
    c->branch = branch;
    c->since = since;
    snprintf(c->tag, sizeof c->tag, "%s", tag);
    return ncs - 1;
}

static void buy(int c, int date, int64_t amount, int64_t margin)
{
    struct txn *t = PUSH(tx, ntx, cap_tx);
    *t = (struct txn){ .c = c, .date = date, .due = NONE, .seq = seq++, .amount = amount, .margin = margin };
}

static void buy_credit(int c, int date, int64_t amount, int due)
{
    struct txn *t = PUSH(tx, ntx, cap_tx);
    *t = (struct txn){ .c = c, .date = date, .credit = 1, .due = due, .seq = seq++, .amount = amount, .margin = NOM };
}

static void pay(int c, int date, int64_t amount)
{
    struct pay *p = PUSH(py, npy, cap_py);
    *p = (struct pay){ .c = c, .date = date, .seq = seq++, .amount = amount };
}

static void snap(int c, int date, int product, int64_t balance)
{
    /* one per customer, product and day: a second one replaces the first */
    for (int k = 0; k < nsn; k++)
        if (sn[k].c == c && sn[k].product == product && sn[k].date == date) {
            sn[k].balance = balance;
            return;
        }
    struct snap *s = PUSH(sn, nsn, cap_sn);
    *s = (struct snap){ .c = c, .date = date, .product = product, .seq = seq++, .balance = balance };
}

static void followup(int c, int date)
{
    struct fu *f = PUSH(fus, nfu, cap_fu);
    *f = (struct fu){ .c = c, .date = date, .seq = seq++ };
}

/* a purchase on the same day of every month from `from` through `to` */
static void monthly(int c, int from, int to, int64_t amount, int margin_pct)
{
    for (int k = 0;; k++) {
        int d = add_months(from, k);
        if (d > to)
            break;
        buy(c, d, amount, margin_pct == NOPCT ? NOM : amount * margin_pct / 100);
    }
}

static int cmp_txn(const void *a, const void *b)
{
    const struct txn *x = a, *y = b;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    if (x->date != y->date)
        return x->date < y->date ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_pay(const void *a, const void *b)
{
    const struct pay *x = a, *y = b;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    if (x->date != y->date)
        return x->date < y->date ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_snap(const void *a, const void *b)
{
    const struct snap *x = a, *y = b;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    if (x->product != y->product)
        return x->product < y->product ? -1 : 1;
    return (x->date > y->date) - (x->date < y->date);
}

static int cmp_fu(const void *a, const void *b)
{
    const struct fu *x = a, *y = b;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    return (x->date > y->date) - (x->date < y->date);
}

/* Sorts the rows by customer (transactions and payments by date, then the
 * order they were made in, which is also the order of their ids in the
 * database) and gives every customer its ranges. */
static void index_build(void)
{
    qsort(tx, (size_t)ntx, sizeof *tx, cmp_txn);
    qsort(py, (size_t)npy, sizeof *py, cmp_pay);
    qsort(sn, (size_t)nsn, sizeof *sn, cmp_snap);
    qsort(fus, (size_t)nfu, sizeof *fus, cmp_fu);
    for (int i = 0; i < ncs; i++)
        cs[i].tn = cs[i].pn = cs[i].sn = cs[i].fn = 0;
    for (int k = ntx - 1; k >= 0; k--)
        cs[tx[k].c].t0 = k, cs[tx[k].c].tn++;
    for (int k = npy - 1; k >= 0; k--)
        cs[py[k].c].p0 = k, cs[py[k].c].pn++;
    for (int k = nsn - 1; k >= 0; k--)
        cs[sn[k].c].s0 = k, cs[sn[k].c].sn++;
    for (int k = nfu - 1; k >= 0; k--)
        cs[fus[k].c].f0 = k, cs[fus[k].c].fn++;
}

/* ---------------------------------------------------------------- the policy */

struct policy {
    int new_months, window_months, metric_margin, scope_branch;
    int a_bp, b_bp;               /* shares × 10000 */
    int64_t vol_a, vol_b, vol_c;  /* fen */
    int wv, wc, wi;               /* weights × 10000 */
    int high10, medium10;         /* score thresholds × 10 */
    int64_t vip, wealth, general; /* fen */
    int churned_days, silent_days, loyal_days, loyal_months;
    int c_days, cc_days, ccc_days, b_days;
    int service_contacts, price_bp, quality_bp, growth_bp;
    int recent_days, drop_bp, baseline_days, min_baseline;
    int cycle_months, cycle_min, cycle_silent10, cycle_churned10; /* the purchase cycle; factors × 10 */
    int credit_floor; /* position of abc.credit_floor among the credit grades (1 AAA ... 9 C); 100 none */
    int vol_floor;    /* position of volume.credit_floor: credit below it lowers the four-level grade one level */
};

/* the defaults of docs/grading.md */
static struct policy pol = {
    .new_months = 6, .window_months = 12, .metric_margin = 0, .scope_branch = 0,
    .a_bp = 500, .b_bp = 2000,
    .vol_a = 1000000 * 100LL, .vol_b = 200000 * 100LL, .vol_c = 50000 * 100LL,
    .wv = 5000, .wc = 3000, .wi = 2000,
    .high10 = 700, .medium10 = 400,
    .vip = 2000000 * 100LL, .wealth = 500000 * 100LL, .general = 100000 * 100LL,
    .churned_days = 365, .silent_days = 90, .loyal_days = 730, .loyal_months = 6,
    .c_days = 180, .cc_days = 90, .ccc_days = 60, .b_days = 30,
    .service_contacts = 6, .price_bp = 1000, .quality_bp = 3000, .growth_bp = 2000,
    .recent_days = 90, .drop_bp = 5000, .baseline_days = 365, .min_baseline = 3,
    .cycle_months = 24, .cycle_min = 4, .cycle_silent10 = 20, .cycle_churned10 = 40,
    .credit_floor = 6, /* B */
    .vol_floor = 5,    /* BB (volume.basis is set to fixed: the amounts above) */
};

/* ---------------------------------------------------------------- the model */

enum { D_ABC, D_VOLUME, D_VALUE, D_ASSET, D_LIFE, D_CREDIT, D_NEEDS, D_POTENTIAL, NDIM };
static const char *const dim_names[NDIM] = { "abc",       "volume", "value_tier", "asset_tier",
                                             "lifecycle", "credit", "needs",      "potential" };
typedef char grade_t[12];

enum { R_FREQ = 1, R_AMOUNT = 2, R_SILENT = 4, R_AUM = 16 }; /* 8: a warning (check_churn) */

struct expect {
    int graded, is_new, start, last, rank, scope_n, cut_a, cut_b;
    int64_t metric, sales, aum;
    int score10, reasons;
    grade_t g[NDIM]; /* "" none */
    char why[NDIM][160];
};

/* "none" and absent are the same (interpretation 2) */
static const char *norm(const char *g)
{
    return !g || strcmp(g, "none") == 0 ? "" : g;
}

static int dim_index(const char *name)
{
    for (int d = 0; d < NDIM; d++)
        if (strcmp(name, dim_names[d]) == 0)
            return d;
    return -1;
}

struct ev {
    int at, kind, date, seq, due;
    int64_t credit, paid;
};

static int cmp_ev(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->date != y->date)
        return x->date < y->date ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* customer_arrears(D) as its definition in sql/0005 says (and it_payment
 * checks): credit transactions and payments dated on or before D; payments
 * allocated to the credit oldest due first. */
static void arrears(int i, int D, int *credit_txns, int *on_time, int *overdue)
{
    const struct cust *c = &cs[i];
    struct ev *e = malloc(sizeof *e * (size_t)(c->tn + c->pn + 1));
    int n = 0;
    int64_t paid_total = 0;
    for (int k = c->t0; k < c->t0 + c->tn; k++)
        if (tx[k].credit && tx[k].date <= D)
            e[n++] = (struct ev){ tx[k].due, 1, tx[k].date, tx[k].seq, tx[k].due, tx[k].amount, 0 };
    for (int k = c->p0; k < c->p0 + c->pn; k++)
        if (py[k].date <= D) {
            e[n++] = (struct ev){ py[k].date, 0, py[k].date, py[k].seq, NONE, 0, py[k].amount };
            paid_total += py[k].amount;
        }
    qsort(e, (size_t)n, sizeof *e, cmp_ev);
    int64_t credit_so_far = 0, paid_so_far = 0;
    int oldest = NONE;
    *credit_txns = *on_time = 0;
    for (int k = 0; k < n; k++) {
        credit_so_far += e[k].credit;
        paid_so_far += e[k].paid;
        if (e[k].credit <= 0)
            continue;
        if (credit_so_far > paid_total && (oldest == NONE || e[k].due < oldest))
            oldest = e[k].due;
        int paid = paid_so_far >= credit_so_far;
        if (e[k].due < D || paid)
            ++*credit_txns;
        if (paid)
            ++*on_time;
    }
    *overdue = oldest != NONE && D > oldest ? D - oldest : 0;
    free(e);
}

static void set(struct expect *e, int d, const char *grade)
{
    snprintf(e->g[d], sizeof e->g[d], "%s", grade);
}

/* Everything about one customer on D but its ABC grade. */
static int was_lapsed(int i);

static const char *ovr_grade_at(int c, int dim, int D);

static void eval_one(const struct policy *p, int D, int i, struct expect *e)
{
    const struct cust *c = &cs[i];
    memset(e, 0, sizeof *e);
    e->last = NONE;
    int start = c->since;
    for (int k = c->t0; k < c->t0 + c->tn; k++)
        if (tx[k].date < start)
            start = tx[k].date;
    e->start = start;
    if (c->status == ST_ARCHIVED || c->merged || start > D)
        return;
    e->graded = 1;

    int win_lo = add_months(D, -p->window_months), half = add_months(D, -(p->window_months / 2));
    int y12 = add_months(D, -12);
    e->is_new = start > add_months(D, -p->new_months);
    int64_t wsales = 0, wmargin = 0, first = 0, second = 0;
    int any_margin = 0;
    int dmonth = month_index(D);
    unsigned months = 0;
    int rec_lo = D - p->recent_days, base_lo = rec_lo - p->baseline_days;
    int64_t rec_n = 0, base_n = 0, rec_amt = 0, base_amt = 0;
    int lastp = NONE, won_first = NONE, won_prev = NONE;
    int cyc_lo = add_months(D, -p->cycle_months), cyc_first = NONE, cyc_n = 0;
    for (int k = c->t0; k < c->t0 + c->tn; k++) { /* by date */
        const struct txn *t = &tx[k];
        if (t->date > D)
            break;
        if (t->date > win_lo) {
            wsales += t->amount;
            if (t->margin != NOM) {
                wmargin += t->margin;
                any_margin = 1;
            }
            if (t->date > half)
                second += t->amount;
            else
                first += t->amount;
        }
        if (t->date > y12)
            e->sales += t->amount;
        if (t->amount > 0) {
            if (won_first == NONE && t->date > D - p->silent_days) {
                won_first = t->date;
                won_prev = lastp; /* the purchase before it (an earlier day: one of the same day would come first) */
            }
            lastp = t->date;
            if (t->date > cyc_lo) {
                if (cyc_first == NONE)
                    cyc_first = t->date;
                cyc_n++;
            }
            int mi = month_index(t->date);
            if (mi > dmonth - 12)
                months |= 1u << (dmonth - mi);
            if (t->date > rec_lo)
                rec_n++, rec_amt += t->amount;
            else if (t->date > base_lo)
                base_n++, base_amt += t->amount;
        }
    }
    e->last = lastp;
    e->metric = p->metric_margin ? wmargin : wsales;

    /* lifecycle, in the customer's own rhythm when it has one: the mean interval span / (n - 1) between its
     * purchases in the cycle window; thresholds ceil(factor × interval), never below the fixed days */
    int idle = D - (lastp != NONE ? lastp : start);
    int nmonths = __builtin_popcount(months);
    int has_cycle = cyc_n >= p->cycle_min, silent_t = p->silent_days, churned_t = p->churned_days;
    if (has_cycle) {
        int64_t span = lastp - cyc_first, den = 10LL * (cyc_n - 1);
        int64_t st_ = (p->cycle_silent10 * span + den - 1) / den, ct_ = (p->cycle_churned10 * span + den - 1) / den;
        if (st_ > silent_t)
            silent_t = (int)st_;
        if (ct_ > churned_t)
            churned_t = (int)ct_;
    }
    const char *life;
    if (idle >= churned_t)
        life = "churned";
    else if (idle >= silent_t)
        life = "silent";
    else if (won_first != NONE && won_prev != NONE && won_first - won_prev >= p->silent_days && was_lapsed(i))
        life = "won_back";
    else if (e->is_new)
        life = "new";
    else if (D - start >= p->loyal_days && nmonths >= p->loyal_months)
        life = "loyal";
    else
        life = "active";
    set(e, D_LIFE, life);
    snprintf(e->why[D_LIFE], sizeof e->why[D_LIFE],
             "start %s, last purchase %s, idle %d (silent at %d, churned at %d: %d purchases since %s), first recent"
             " purchase %s after %s, %d of 12 months, new %d",
             dstr(start), dstr(lastp), idle, silent_t, churned_t, cyc_n, dstr(cyc_first), dstr(won_first),
             dstr(won_prev), nmonths, e->is_new);

    /* volume */
    int vp;
    if (e->sales >= p->vol_a)
        set(e, D_VOLUME, "A"), vp = 100;
    else if (e->sales >= p->vol_b)
        set(e, D_VOLUME, "B"), vp = 70;
    else if (e->sales >= p->vol_c)
        set(e, D_VOLUME, "C"), vp = 40;
    else
        set(e, D_VOLUME, "D"), vp = 10;
    snprintf(e->why[D_VOLUME], sizeof e->why[D_VOLUME], "sales %s over (%s, %s]", money(e->sales), dstr(y12),
             dstr(D));

    /* credit */
    int n, on, od, cp;
    arrears(i, D, &n, &on, &od);
    static const char *const cg[] = { "AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C" };
    static const int cpts[] = { 100, 90, 80, 65, 50, 35, 20, 10, 0 };
    int g = -1;
    if (n == 0)
        g = -1;
    else if (od >= p->c_days)
        g = 8;
    else if (od >= p->cc_days)
        g = 7;
    else if (od >= p->ccc_days)
        g = 6;
    else if (od >= p->b_days)
        g = 5;
    else {
        int64_t on100 = (int64_t)on * 100;
        g = on100 >= 98LL * n ? 0 : on100 >= 95LL * n ? 1 : on100 >= 90LL * n ? 2 : on100 >= 80LL * n ? 3
          : on100 >= 65LL * n ? 4 : 5;
        if (od > 0 && g < 3)
            g = 3;
    }
    set(e, D_CREDIT, g < 0 ? "" : cg[g]);
    cp = g < 0 ? 60 : cpts[g];
    snprintf(e->why[D_CREDIT], sizeof e->why[D_CREDIT], "credit_txns %d, paid_on_time %d, days_overdue %d", n, on,
             od);

    /* assets under management on D: the latest snapshot of each product */
    for (int k = c->s0; k < c->s0 + c->sn; k++) { /* by product, date */
        if (sn[k].date > D)
            continue;
        int later = k + 1 < c->s0 + c->sn && sn[k + 1].product == sn[k].product && sn[k + 1].date <= D;
        if (!later)
            e->aum += sn[k].balance;
    }
    set(e, D_ASSET, e->aum >= p->vip ? "vip" : e->aum >= p->wealth ? "wealth" : e->aum >= p->general ? "general" : "");
    snprintf(e->why[D_ASSET], sizeof e->why[D_ASSET], "aum %s from %d snapshots", money(e->aum), c->sn);

    /* score and value tier (influence: medium, 50 points) */
    int64_t num = (int64_t)p->wv * vp + (int64_t)p->wc * cp + (int64_t)p->wi * 50;
    int64_t den = p->wv + p->wc + p->wi;
    e->score10 = (int)((num * 20 + den) / (2 * den)); /* one decimal, half up */
    set(e, D_VALUE, e->score10 >= p->high10 ? "high" : e->score10 >= p->medium10 ? "medium" : "low");
    snprintf(e->why[D_VALUE], sizeof e->why[D_VALUE], "score %d.%d (volume %d, credit %d, influence 50 points)",
             e->score10 / 10, e->score10 % 10, vp, cp);

    /* needs and potential, for customers with sales in the window */
    int done = 0;
    for (int k = c->f0; k < c->f0 + c->fn; k++)
        done += fus[k].date > win_lo && fus[k].date <= D;
    if (wsales > 0) {
        if (done >= p->service_contacts)
            set(e, D_NEEDS, "service");
        else if (!any_margin)
            set(e, D_NEEDS, "");
        else if (wmargin * 10000 < (int64_t)p->price_bp * wsales)
            set(e, D_NEEDS, "price");
        else if (wmargin * 10000 >= (int64_t)p->quality_bp * wsales)
            set(e, D_NEEDS, "quality");
        set(e, D_POTENTIAL,
            e->is_new || second * 10000 >= (int64_t)(10000 + p->growth_bp) * first ? "high" : "low");
    }
    snprintf(e->why[D_NEEDS], sizeof e->why[D_NEEDS], "window sales %s, margin %s (any %d), follow-ups done %d",
             money(wsales), money(wmargin), any_margin, done);
    snprintf(e->why[D_POTENTIAL], sizeof e->why[D_POTENTIAL], "window sales %s, first half %s, second half %s, new %d",
             money(wsales), money(first), money(second), e->is_new);

    /* churn warnings' reasons; assets that fell by drop_share since D - recent_days, for a customer that
     * held an asset tier then, even when its purchases call it churned */
    int64_t aum0 = 0;
    for (int k = c->s0; k < c->s0 + c->sn; k++) {
        int D0 = D - p->recent_days;
        if (sn[k].date > D0)
            continue;
        int later = k + 1 < c->s0 + c->sn && sn[k + 1].product == sn[k].product && sn[k + 1].date <= D0;
        if (!later)
            aum0 += sn[k].balance;
    }
    if (aum0 >= p->general && aum0 > 0 && (__int128)e->aum * 10000 < (__int128)(10000 - p->drop_bp) * aum0)
        e->reasons |= R_AUM;
    if (strcmp(life, "churned") != 0) {
        if (base_n >= p->min_baseline) {
            __int128 lhs = (__int128)rec_n * p->baseline_days * 10000;
            __int128 rhs = (__int128)(10000 - p->drop_bp) * base_n * p->recent_days;
            if (lhs < rhs)
                e->reasons |= R_FREQ;
            lhs = (__int128)rec_amt * p->baseline_days * 10000;
            rhs = (__int128)(10000 - p->drop_bp) * base_amt * p->recent_days;
            if (lhs < rhs)
                e->reasons |= R_AMOUNT;
        }
        /* only an established customer: a baseline of purchases or a known rhythm */
        if (strcmp(life, "silent") == 0 && (base_n >= p->min_baseline || has_cycle))
            e->reasons |= R_SILENT;
    }
}

static const struct expect *rank_e;
static int rank_by_branch;

static int cmp_rank(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    int ki = rank_by_branch ? cs[i].branch : 0, kj = rank_by_branch ? cs[j].branch : 0;
    if (ki != kj)
        return ki < kj ? -1 : 1;
    if (rank_e[i].metric != rank_e[j].metric)
        return rank_e[i].metric > rank_e[j].metric ? -1 : 1;
    return (cs[i].id > cs[j].id) - (cs[i].id < cs[j].id);
}

/* Every customer on D under policy p (e: ncs entries). */
static void model_eval(const struct policy *p, int D, struct expect *e)
{
    int *order = malloc(sizeof *order * (size_t)ncs);
    int n = 0;
    for (int i = 0; i < ncs; i++) {
        eval_one(p, D, i, &e[i]);
        if (e[i].graded && !e[i].is_new)
            order[n++] = i;
    }
    rank_e = e;
    rank_by_branch = p->scope_branch;
    qsort(order, (size_t)n, sizeof *order, cmp_rank);
    for (int k = 0; k < n;) {
        int key = p->scope_branch ? cs[order[k]].branch : 0, end = k;
        while (end < n && (p->scope_branch ? cs[order[end]].branch : 0) == key)
            end++;
        int64_t scope_n = end - k;
        int cut_a = (int)(scope_n * p->a_bp / 10000), cut_b = (int)(scope_n * p->b_bp / 10000); /* floor, exact */
        for (int r = k; r < end; r++) {
            struct expect *x = &e[order[r]];
            x->rank = r - k + 1;
            x->scope_n = (int)scope_n;
            x->cut_a = cut_a;
            x->cut_b = cut_b;
            set(x, D_ABC, x->metric <= 0 ? "C" : x->rank <= cut_a ? "A" : x->rank <= cut_b ? "B" : "C");
            snprintf(x->why[D_ABC], sizeof x->why[D_ABC], "%s %s, rank %d of %d%s (A: rank <= %d, B: <= %d)",
                     p->metric_margin ? "margin" : "revenue", money(x->metric), x->rank, x->scope_n,
                     p->scope_branch ? (cs[order[r]].branch ? " in 北京分行" : " in 上海分行") : "", cut_a, cut_b);
        }
        k = end;
    }
    /* the credit gate: A only with effective credit (an override or assessment counts) at or above the floor */
    static const char *const credits[] = { "AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C" };
    for (int i = 0; i < ncs; i++) {
        if (!e[i].graded || strcmp(e[i].g[D_ABC], "A") != 0)
            continue;
        const char *credit = ovr_grade_at(i, D_CREDIT, D);
        if (!credit)
            credit = e[i].g[D_CREDIT];
        for (int k = 0; k < 9; k++)
            if (!strcmp(credit, credits[k]) && k + 1 > p->credit_floor) {
                set(&e[i], D_ABC, "B");
                size_t len = strlen(e[i].why[D_ABC]);
                snprintf(e[i].why[D_ABC] + len, sizeof e[i].why[D_ABC] - len, "; held at B by credit %s", credit);
            }
    }
    /* the four-level grade: the sales grade, one lower for effective credit below volume.credit_floor
     * (influence is medium throughout) */
    for (int i = 0; i < ncs; i++) {
        if (!e[i].graded)
            continue;
        const char *credit = ovr_grade_at(i, D_CREDIT, D);
        if (!credit)
            credit = e[i].g[D_CREDIT];
        for (int k = 0; k < 9; k++)
            if (!strcmp(credit, credits[k]) && k + 1 > p->vol_floor) {
                static const char *const lower[] = { "B", "C", "D", "D" };
                const char *v = e[i].g[D_VOLUME];
                int at = v[0] >= 'A' && v[0] <= 'D' ? v[0] - 'A' : 3;
                set(&e[i], D_VOLUME, lower[at]);
                size_t len = strlen(e[i].why[D_VOLUME]);
                snprintf(e[i].why[D_VOLUME] + len, sizeof e[i].why[D_VOLUME] - len, "; one lower for credit %s",
                         credit);
            }
    }
    for (int i = 0; i < ncs; i++)
        if (e[i].graded && e[i].is_new) {
            set(&e[i], D_ABC, "C");
            snprintf(e[i].why[D_ABC], sizeof e[i].why[D_ABC], "new: start %s > %s", dstr(e[i].start),
                     dstr(add_months(D, -p->new_months)));
        }
    free(order);
}

/* ---------------------------------------------------------------- the generated customer base */

static int cust_x, cust_y; /* the admin's override; the account manager's pending raise */
static int cust_yearly;    /* buys every half year: its own rhythm keeps it active 120 days on */

/* A credit history of n sales 10 days apart (each due 7 days after it; paid
 * 3 days after the sale, or 12 days after it, late, for the indices in
 * late[]), ending so that all of them have come due by D1; with overdue > 0,
 * one more sale due D1 − overdue that is never paid. */
static void credit_series(int c, int n, int nlate, int overdue)
{
    int end = overdue > 0 ? D1 - overdue - 7 - 10 : D1 - 40;
    for (int k = 0; k < n; k++) {
        int d = end - 10 * (n - 1 - k);
        int64_t amount = 500000 + 1000 * k;
        buy_credit(c, d, amount, d + 7);
        pay(c, d + (k % 3 == 1 && nlate > 0 ? (nlate--, 12) : 3), amount);
    }
    if (overdue > 0)
        buy_credit(c, D1 - overdue - 7, 777700, D1 - overdue);
}

static void gen_crafted(void)
{
    int c;
    /* ABC and the window */
    c = add_c("no transactions at all", 0, DAY(2023, 3, 1));
    c = add_c("empty window (all sales before it)", 0, DAY(2022, 1, 10));
    monthly(c, DAY(2022, 1, 10), DAY(2024, 5, 10), 500000, 20);
    c = add_c("only refunds in the window", 0, DAY(2022, 5, 1));
    monthly(c, DAY(2022, 5, 1), DAY(2023, 12, 1), 800000, 20);
    buy(c, DAY(2024, 9, 10), -500000, -100000);
    buy(c, DAY(2025, 2, 1), -300000, NOM);
    c = add_c("negative margin", 0, DAY(2022, 2, 1));
    monthly(c, DAY(2022, 2, 1), DAY(2025, 11, 1), 4000000, -10);
    c = add_c("window edge: big sale on D1-12m, small one day later", 0, DAY(2022, 3, 1));
    buy(c, DAY(2024, 6, 15), 200000000, 20000000);
    buy(c, DAY(2024, 6, 16), 100000, 10000);
    for (int k = 0; k < 3; k++) { /* identical metric in the middle of the ranking */
        c = add_c("equal revenue (clone)", 0, DAY(2022, 9, 1));
        monthly(c, DAY(2022, 9, 3), DAY(2025, 10, 3), 1234567, 18);
        buy(c, DAY(2025, 1, 20), -234567, -40000);
    }
    /* new customers */
    c = add_c("new, the biggest sales", 0, DAY(2025, 3, 1));
    monthly(c, DAY(2025, 3, 1), DAY(2025, 11, 1), 30000000, 25);
    c = add_c("new, no sales", 0, DAY(2025, 5, 1));
    c = add_c("new edge: since D1-6m (not new)", 0, DAY(2024, 12, 15));
    monthly(c, DAY(2024, 12, 20), DAY(2025, 11, 20), 300000, 15);
    c = add_c("new edge: since D1-6m+1 (new)", 0, DAY(2024, 12, 16));
    monthly(c, DAY(2024, 12, 20), DAY(2025, 11, 20), 300000, 15);
    c = add_c("start by the first transaction, before since", 0, DAY(2025, 4, 1));
    monthly(c, DAY(2023, 2, 1), DAY(2025, 11, 1), 250000, 12);
    c = add_c("relationship starts after D4", 0, DAY(2025, 10, 20));
    buy(c, DAY(2025, 10, 25), 900000, 90000);
    /* not live */
    c = add_c("archived", 0, DAY(2023, 1, 1));
    cs[c].status = ST_ARCHIVED;
    monthly(c, DAY(2023, 1, 1), DAY(2025, 11, 1), 9000000, 20);
    c = add_c("merged into another", 0, DAY(2023, 1, 1));
    cs[c].merged = 1;
    c = add_c("in the pool (live)", 0, DAY(2022, 6, 1));
    cs[c].status = ST_IN_POOL;
    monthly(c, DAY(2022, 6, 1), DAY(2025, 11, 1), 600000, 20);
    /* lifecycle edges (D1 - 90 = 2025-03-17, D1 - 365 = 2024-06-15) */
    c = add_c("silent: last purchase D1-90", 0, DAY(2022, 1, 1));
    monthly(c, DAY(2022, 1, 17), DAY(2025, 3, 17), 200000, 20);
    c = add_c("last purchase D1-89", 0, DAY(2022, 1, 1));
    monthly(c, DAY(2022, 1, 18), DAY(2025, 3, 18), 200000, 20);
    c = add_c("churned: last purchase D1-365", 0, DAY(2022, 1, 1));
    monthly(c, DAY(2022, 1, 15), DAY(2024, 6, 15), 200000, 20);
    c = add_c("silent: last purchase D1-364", 0, DAY(2022, 1, 1));
    monthly(c, DAY(2022, 1, 16), DAY(2024, 6, 16), 200000, 20);
    c = cust_yearly = add_c("buys twice a year (rhythm 182 days): not silent at D1 + 120", 0, DAY(2021, 1, 1));
    for (int y = 2021; y <= 2025; y++) {
        buy(c, DAY(y, 2, 15), 900000, 90000);
        if (y < 2025)
            buy(c, DAY(y, 8, 15), 900000, 90000);
    }
    c = add_c("silent at D1 (last purchase D1-100), back on D2-14: won back at D2", 0, DAY(2022, 2, 1));
    monthly(c, DAY(2022, 2, 7), DAY(2025, 3, 7), 300000, 20);
    buy(c, DAY(2025, 7, 1), 300000, 60000);
    c = add_c("won back after 121 days", 0, DAY(2022, 2, 1));
    monthly(c, DAY(2022, 2, 1), DAY(2024, 12, 1), 300000, 20);
    buy(c, DAY(2025, 4, 1), 300000, 60000);
    c = add_c("won back after exactly 90 days", 0, DAY(2022, 2, 1));
    monthly(c, DAY(2022, 2, 5), DAY(2025, 1, 5), 300000, 20);
    buy(c, DAY(2025, 4, 5), 300000, 60000);
    c = add_c("back after 89 days (not won back)", 0, DAY(2022, 2, 1));
    monthly(c, DAY(2022, 2, 5), DAY(2025, 1, 5), 300000, 20);
    buy(c, DAY(2025, 4, 4), 300000, 60000);
    c = add_c("won back, a refund in the gap", 0, DAY(2022, 2, 1));
    monthly(c, DAY(2022, 2, 10), DAY(2024, 11, 10), 300000, 20);
    buy(c, DAY(2025, 1, 15), -100000, NOM);
    buy(c, DAY(2025, 5, 1), 300000, 60000);
    c = add_c("silent, a refund since (not a purchase)", 0, DAY(2022, 3, 1));
    monthly(c, DAY(2022, 3, 1), DAY(2025, 1, 1), 300000, 20);
    buy(c, DAY(2025, 6, 1), -100000, NOM);
    c = add_c("first purchase ever recent (not won back)", 0, DAY(2022, 3, 1));
    buy(c, DAY(2025, 5, 20), 400000, 40000);
    for (int six = 0; six < 2; six++) { /* purchases in 6 (loyal) or 5 of Jul 2024 .. Jun 2025 */
        c = add_c(six ? "loyal: 6 of 12 months" : "5 of 12 months (not loyal)", 0, DAY(2022, 1, 5));
        monthly(c, DAY(2022, 1, 5), DAY(2023, 12, 5), 200000, 20);
        buy(c, DAY(2024, 6, 20), 200000, 40000); /* June 2024: not one of the 12 months */
        if (six)
            buy(c, DAY(2024, 8, 10), 200000, 40000);
        buy(c, DAY(2024, 9, 10), 200000, 40000);
        buy(c, DAY(2024, 11, 10), 200000, 40000);
        buy(c, DAY(2024, 11, 20), 200000, 40000); /* the same month twice */
        buy(c, DAY(2025, 1, 10), 200000, 40000);
        buy(c, DAY(2025, 3, 10), 200000, 40000);
        buy(c, DAY(2025, 6, 1), 200000, 40000);
    }
    c = add_c("too young to be loyal at D1 (715 days)", 0, DAY(2023, 7, 1));
    monthly(c, DAY(2023, 7, 1), DAY(2025, 11, 1), 200000, 20);
    /* volume edges */
    static const struct {
        const char *tag;
        int64_t a, b;
    } vol[] = {
        { "volume A exactly 1000000.00", 60000000, 40000000 },
        { "volume 999999.99 (B)", 60000000, 39999999 },
        { "volume B exactly 200000.00", 20000000, 0 },
        { "volume C exactly 50000.00", 5000000, 0 },
        { "volume 49999.99 (D)", 4999999, 0 },
    };
    for (size_t k = 0; k < sizeof vol / sizeof vol[0]; k++) {
        c = add_c(vol[k].tag, 0, DAY(2023, 1, 1));
        buy(c, DAY(2023, 3, 1), 100000, 10000);
        buy(c, DAY(2025, 1, 10), vol[k].a, vol[k].a / 10);
        if (vol[k].b)
            buy(c, DAY(2025, 2, 10), vol[k].b, vol[k].b / 10);
    }
    /* asset tiers */
    c = add_c("aum vip exactly 2000000.00", 0, DAY(2023, 1, 1));
    snap(c, DAY(2025, 1, 1), 0, 200000000);
    c = add_c("aum vip from two products, fund emptied after D1", 0, DAY(2023, 1, 1));
    snap(c, DAY(2024, 10, 1), 0, 150000000);
    snap(c, DAY(2025, 3, 1), 1, 50000000);
    snap(c, DAY(2025, 7, 1), 1, 0);
    c = add_c("aum 499999.99 (general)", 0, DAY(2023, 1, 1));
    snap(c, DAY(2025, 1, 1), 0, 49999999);
    c = add_c("aum general exactly 100000.00", 0, DAY(2023, 1, 1));
    snap(c, DAY(2025, 1, 1), 2, 10000000);
    c = add_c("aum 99999.99 (none)", 0, DAY(2023, 1, 1));
    snap(c, DAY(2025, 1, 1), 0, 9999999);
    c = add_c("aum: only a snapshot after D3", 0, DAY(2023, 1, 1));
    snap(c, DAY(2025, 9, 1), 0, 80000000);
    c = add_c("aum emptied (a 0 snapshot)", 0, DAY(2023, 1, 1));
    snap(c, DAY(2024, 1, 1), 0, 300000000);
    snap(c, DAY(2025, 2, 1), 0, 0);
    c = add_c("aum: the latest snapshot on D1 itself", 0, DAY(2023, 1, 1));
    snap(c, DAY(2024, 1, 1), 0, 300000000);
    snap(c, DAY(2025, 6, 15), 0, 60000000);
    /* credit */
    static const struct {
        const char *tag;
        int n, late, overdue;
    } cr[] = {
        { "credit AAA: 12 of 12 on time", 12, 0, 0 },
        { "credit AA: 19 of 20 on time", 20, 1, 0 },
        { "credit A: 9 of 10 on time", 10, 1, 0 },
        { "credit BBB: 4 of 5 on time", 5, 1, 0 },
        { "credit BB: 13 of 20 on time", 20, 7, 0 },
        { "credit B: 3 of 5 on time", 5, 2, 0 },
        { "credit 50 on time, 5 days overdue (AAA capped to BBB)", 50, 0, 5 },
        { "credit 40 days overdue (B)", 6, 0, 40 },
        { "credit 65 days overdue (CCC)", 6, 0, 65 },
        { "credit 100 days overdue (CC)", 6, 0, 100 },
        { "credit 200 days overdue (C)", 6, 0, 200 },
    };
    for (size_t k = 0; k < sizeof cr / sizeof cr[0]; k++) {
        c = add_c(cr[k].tag, 0, DAY(2022, 1, 1));
        credit_series(c, cr[k].n, cr[k].late, cr[k].overdue);
    }
    c = add_c("credit: due on D1, unpaid (none at D1)", 0, DAY(2022, 1, 1));
    buy_credit(c, D1 - 20, 300000, D1);
    c = add_c("credit: 1 fen short, 10 days overdue", 0, DAY(2022, 1, 1));
    buy_credit(c, D1 - 40, 10000000, D1 - 10);
    pay(c, D1 - 20, 9999999);
    c = add_c("credit: paid before due (counts)", 0, DAY(2022, 1, 1));
    buy_credit(c, D1 - 10, 300000, D1 + 20);
    pay(c, D1 - 5, 300000);
    /* needs (window (2024-06-15, 2025-06-15]) */
    static const struct {
        const char *tag;
        int64_t m1, m2; /* margins of two sales of 50000.00 */
        int fu_in, fu_out;
    } nd[] = {
        { "needs price: margin 9.99%", 499999, 500000, 0, 0 },
        { "needs none: margin exactly 10%", 500000, 500000, 0, 0 },
        { "needs quality: margin exactly 30%", 1500000, 1500000, 0, 0 },
        { "needs none: margin 29.99%", 1499999, 1500000, 0, 0 },
        { "needs none: no margin recorded", NOM, NOM, 0, 0 },
        { "needs: a missing margin counts 0 (20%: none)", 2000000, NOM, 0, 0 },
        { "needs service: 6 follow-ups done", 250000, 250000, 6, 0 },
        { "needs: 5 follow-ups in the window (price)", 250000, 250000, 5, 1 },
    };
    for (size_t k = 0; k < sizeof nd / sizeof nd[0]; k++) {
        c = add_c(nd[k].tag, 0, DAY(2022, 1, 1));
        buy(c, DAY(2023, 5, 1), 100000, 10000);
        buy(c, DAY(2024, 10, 1), 5000000, nd[k].m1);
        buy(c, DAY(2025, 3, 1), 5000000, nd[k].m2);
        for (int f = 0; f < nd[k].fu_in; f++)
            followup(c, DAY(2024, 7, 1) + 40 * f);
        if (nd[k].fu_out) {
            followup(c, DAY(2024, 6, 15)); /* the window's open end */
            followup(c, DAY(2025, 6, 20)); /* after D1 */
        }
    }
    c = add_c("follow-ups but no sales in the window", 0, DAY(2022, 1, 1));
    buy(c, DAY(2023, 5, 1), 1000000, 100000);
    buy(c, DAY(2024, 8, 1), -200000, NOM);
    for (int f = 0; f < 8; f++)
        followup(c, DAY(2024, 7, 1) + 30 * f);
    /* potential (halves (2024-06-15, 2024-12-15] and (2024-12-15, 2025-06-15]) */
    static const struct {
        const char *tag;
        int64_t first, second;
    } pt[] = {
        { "potential high: second half exactly 1.2 x first", 10000000, 12000000 },
        { "potential low: second half 1 fen short of 1.2 x", 10000000, 11999999 },
        { "potential high: sales only in the second half", 0, 500000 },
    };
    for (size_t k = 0; k < sizeof pt / sizeof pt[0]; k++) {
        c = add_c(pt[k].tag, 0, DAY(2022, 1, 1));
        buy(c, DAY(2023, 3, 1), 100000, 10000);
        if (pt[k].first)
            buy(c, DAY(2024, 12, 15), pt[k].first, pt[k].first / 5); /* the half's last day */
        buy(c, DAY(2025, 3, 1), pt[k].second, pt[k].second / 5);
    }
    /* churn warnings */
    c = add_c("churn: purchases every 15 days, then 1 in 90", 0, DAY(2022, 1, 1));
    for (int d = DAY(2024, 3, 20); d <= DAY(2025, 3, 10); d += 15)
        buy(c, d, 400000, 80000);
    buy(c, DAY(2025, 5, 1), 400000, 80000);
    c = add_c("churn: as often as ever, much smaller amounts", 0, DAY(2022, 1, 1));
    monthly(c, DAY(2024, 3, 25), DAY(2025, 3, 10), 900000, 20);
    monthly(c, DAY(2025, 3, 25), DAY(2025, 11, 25), 10000, 20);
    /* overrides */
    cust_x = add_c("override: admin sets abc A until tomorrow", 0, DAY(2023, 1, 1));
    monthly(cust_x, DAY(2023, 1, 5), DAY(2025, 11, 5), 50000, 20);
    cust_y = add_c("override: li.lei raises to A (pending)", 0, DAY(2023, 2, 1));
    monthly(cust_y, DAY(2023, 2, 1), DAY(2025, 11, 1), 150000, 20);
    /* 北京分行 */
    c = add_c("北京分行: the branch's biggest", 1, DAY(2022, 4, 1));
    monthly(c, DAY(2022, 4, 1), DAY(2025, 11, 1), 9000000, 15);
    c = add_c("北京分行: medium", 1, DAY(2022, 4, 1));
    monthly(c, DAY(2022, 4, 1), DAY(2025, 11, 1), 700000, 15);
}

static void gen_random(int count)
{
    static const int64_t level[] = { 30000, 200000, 800000, 3000000, 15000000 }; /* fen a purchase */
    for (int n = 0; n < count; n++) {
        int since = DAY(2021, 6, 1) + rnd(DAY(2025, 5, 31) - DAY(2021, 6, 1) + 1);
        int c = add_c("random", rnd(5) == 0, since);
        int r = rnd(100);
        int lvl = r < 25 ? 0 : r < 55 ? 1 : r < 80 ? 2 : r < 93 ? 3 : 4;
        int p_buy = 35 + rnd(60);
        int first = rnd(10) == 0 ? since - 30 - rnd(370) : since + rnd(60);
        int stop = DAY(2025, 11, 30), gap_from = NONE, gap_len = 0;
        int shape = rnd(10);
        if (shape < 2)
            stop = DAY(2023, 6, 1) + rnd(DAY(2025, 9, 1) - DAY(2023, 6, 1));
        else if (shape < 3)
            gap_from = DAY(2024, 3, 1) + rnd(500), gap_len = 95 + rnd(120);
        int mcenter = rnd(40), mnull = rnd(4) == 0 ? 30 : 5;
        int credit = rnd(4) == 0, payer = rnd(4), stop_paying = DAY(2024, 6, 1) + rnd(500);
        for (int d = first; d <= stop; d += 20 + rnd(25)) {
            if (gap_from != NONE && d >= gap_from && d < gap_from + gap_len)
                continue;
            if (rnd(100) >= p_buy)
                continue;
            int64_t amount = level[lvl] * (50 + rnd(101)) / 100 + rnd(100);
            if (credit && rnd(2)) {
                buy_credit(c, d, amount, d + 30);
                int late = payer == 1 ? rnd(100) < 15 : payer == 2 ? rnd(100) < 40 : 0;
                if (payer == 3 && d > stop_paying)
                    continue;
                int64_t part = rnd(30) == 0 ? amount / 2 : amount;
                pay(c, late ? d + 31 + rnd(40) : d + rnd(31), part);
                continue;
            }
            buy(c, d, amount, rnd(100) < mnull ? NOM : amount * (mcenter - 5 + rnd(11)) / 100);
            if (rnd(100) < 4) {
                int64_t back = amount * (10 + rnd(50)) / 100;
                buy(c, d + 1 + rnd(20), -back, rnd(2) ? NOM : -back * mcenter / 100);
            }
        }
        if (rnd(10) < 3) {
            static const int64_t aum[] = { 5000000, 25000000, 80000000, 250000000 };
            int64_t base = aum[rnd(4)];
            int two = rnd(10) < 4;
            for (int d = since + rnd(90); d <= DAY(2025, 11, 30); d += 60 + rnd(60)) {
                snap(c, d, 0, base * (60 + rnd(81)) / 100);
                if (two)
                    snap(c, d, 1, base * (20 + rnd(41)) / 100);
            }
            if (rnd(20) == 0)
                snap(c, DAY(2025, 1, 1) + rnd(300), 0, 0);
        }
        if (rnd(100) < 15)
            for (int k = 1 + rnd(10); k > 0; k--)
                followup(c, DAY(2024, 1, 1) + rnd(DAY(2025, 11, 30) - DAY(2024, 1, 1)));
    }
}

/* Makes the metric tie across a cut: the first random customer ranked
 * below rank k gets a purchase on D1 - 10 that brings its revenue to rank
 * k's, so the two tie and the customer id decides which side each is on. */
static void make_tie(int a_bp, int use_b)
{
    struct policy p = pol;
    p.a_bp = a_bp;
    struct expect *e = calloc((size_t)ncs, sizeof *e);
    index_build();
    model_eval(&p, D1, e);
    int k = 0, *by_rank = calloc((size_t)ncs + 1, sizeof *by_rank);
    for (int i = 0; i < ncs; i++)
        if (e[i].graded && !e[i].is_new) {
            by_rank[e[i].rank] = i;
            k = use_b ? e[i].cut_b : e[i].cut_a;
        }
    int n = 0;
    for (int i = 0; i < ncs; i++)
        n += e[i].graded && !e[i].is_new;
    for (int r = k + 1; k > 0 && r <= n; r++) {
        int i = by_rank[r];
        if (strcmp(cs[i].tag, "random") != 0)
            continue;
        int64_t diff = e[by_rank[k]].metric - e[i].metric;
        if (diff > 0)
            buy(i, D1 - 10, diff, NOM);
        snprintf(cs[i].tag, sizeof cs[i].tag, "random, tied at rank %d of %d (D1)", k, n);
        break;
    }
    free(by_rank);
    free(e);
}

/* ---------------------------------------------------------------- the database */

struct sb {
    char *p;
    size_t n, cap;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sb *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (b->p && (size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        b->cap = (b->cap + (size_t)w + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
}

static void load_database(void)
{
    PGconn *pg = it_pg_open();
    int64_t branch[2], owner[2];
    branch[0] = it_pg_i64(pg, "SELECT id FROM org_unit WHERE name = '上海分行'");
    branch[1] = it_pg_i64(pg, "SELECT id FROM org_unit WHERE name = '北京分行'");
    owner[0] = it_pg_i64(pg, "SELECT id FROM app_user WHERE username = 'li.lei'");
    owner[1] = it_pg_i64(pg, "SELECT id FROM app_user WHERE username = 'bj.am'");
    struct sb b = { 0 };
    /* a bulk load: no announcements, no change log of the bookkeeping */
    sb_printf(&b, "SET kehu.bulk = 'on'; BEGIN;\n"
                  "INSERT INTO customer (id, branch_id, owner_id, name, since, status) VALUES\n");
    for (int i = 0; i < ncs; i++) {
        char name[160], *q = name;
        for (const char *p = cs[i].tag; *p && q < name + sizeof name - 2; p++)
            if ((*q++ = *p) == '\'')
                *q++ = '\''; /* a quote doubled */
        *q = 0;
        sb_printf(&b, "%s(%lld, %lld, %lld, 'G%04lld %s', '%s', '%s')", i ? ",\n" : "", (long long)cs[i].id,
                  (long long)branch[cs[i].branch], (long long)owner[cs[i].branch], (long long)cs[i].id, name,
                  dstr(cs[i].since), status_names[cs[i].status]);
    }
    sb_printf(&b, ";\nINSERT INTO txn (branch_id, customer_id, date, amount, margin, on_credit, due) VALUES\n");
    for (int k = 0; k < ntx; k++) {
        const struct txn *t = &tx[k];
        char margin[40];
        snprintf(margin, sizeof margin, "%s", t->margin == NOM ? "NULL" : money(t->margin));
        sb_printf(&b, "%s(%lld, %lld, '%s', %s, %s, %s, %s%s%s)", k ? ",\n" : "", (long long)branch[cs[t->c].branch],
                  (long long)cs[t->c].id, dstr(t->date), money(t->amount), margin, t->credit ? "true" : "false",
                  t->credit ? "'" : "", t->credit ? dstr(t->due) : "NULL", t->credit ? "'" : "");
    }
    if (npy) {
        sb_printf(&b, ";\nINSERT INTO payment (branch_id, customer_id, date, amount) VALUES\n");
        for (int k = 0; k < npy; k++)
            sb_printf(&b, "%s(%lld, %lld, '%s', %s)", k ? ",\n" : "", (long long)branch[cs[py[k].c].branch],
                      (long long)cs[py[k].c].id, dstr(py[k].date), money(py[k].amount));
    }
    if (nsn) {
        sb_printf(&b, ";\nINSERT INTO asset_snapshot (branch_id, customer_id, date, balance, product) VALUES\n");
        for (int k = 0; k < nsn; k++)
            sb_printf(&b, "%s(%lld, %lld, '%s', %s, '%s')", k ? ",\n" : "", (long long)branch[cs[sn[k].c].branch],
                      (long long)cs[sn[k].c].id, dstr(sn[k].date), money(sn[k].balance), products[sn[k].product]);
    }
    if (nfu) {
        sb_printf(&b, ";\nINSERT INTO followup (branch_id, customer_id, kind, status, done_at, owner_id) VALUES\n");
        for (int k = 0; k < nfu; k++)
            sb_printf(&b, "%s(%lld, %lld, '%s', 'done', '%s 12:00:00+00', %lld)", k ? ",\n" : "",
                      (long long)branch[cs[fus[k].c].branch], (long long)cs[fus[k].c].id, k % 2 ? "call" : "visit",
                      dstr(fus[k].date), (long long)owner[cs[fus[k].c].branch]);
    }
    sb_printf(&b, ";\n");
    for (int i = 0; i < ncs; i++)
        if (cs[i].merged)
            sb_printf(&b, "UPDATE customer SET merged_into = %lld WHERE id = %lld;\n", (long long)cs[0].id,
                      (long long)cs[i].id);
    sb_printf(&b, "UPDATE customer c SET revenue = t.revenue FROM (SELECT customer_id, sum(amount) AS revenue FROM txn"
                  " GROUP BY 1) t WHERE t.customer_id = c.id;\n"
                  "UPDATE customer c SET balance = coalesce((SELECT sum(amount) FROM txn WHERE customer_id = c.id AND"
                  " on_credit), 0) - coalesce((SELECT sum(amount) FROM payment WHERE customer_id = c.id), 0);\n"
                  "SELECT setval('customer_id_seq', (SELECT max(id) FROM customer));\n"
                  "COMMIT;");
    it_pg_do(pg, b.p);
    free(b.p);
    /* what went in is what the model holds */
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM txn");
    assert_int_equal(it_pg_i64(pg, sql), ntx);
    snprintf(sql, sizeof sql, "SELECT coalesce(sum(amount * 100), 0)::bigint FROM txn");
    int64_t sum = 0;
    for (int k = 0; k < ntx; k++)
        sum += tx[k].amount;
    assert_int_equal(it_pg_i64(pg, sql), sum);
    PQfinish(pg);
}

/* ---------------------------------------------------------------- requests */

static Kehu__V1__Response *grade_run(int dry, int D, const char *kind)
{
    Kehu__V1__GradeRun m = KEHU__V1__GRADE_RUN__INIT;
    m.dry_run = dry;
    m.live = !dry; /* the test moves the date forward run by run */
    m.as_of = (char *)dstr(D);
    m.kind = (char *)kind;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_RUN;
    req.grade_run = &m;
    Kehu__V1__Response *r = it_call(admin, &req, C(OK));
    assert_non_null(r->grade_run);
    return r;
}

/* GradeShow of every customer, pipelined (thousands of round trips one
 * after the other would take most of the test's time): out[i] gets a copy of
 * customer i's response (free with kehu_response_free), codes[i] its code. */
struct show_slot {
    Kehu__V1__Response **out;
    int *code;
};

static void show_done(const Kehu__V1__Response *resp, const struct kehu_status *s, void *arg)
{
    struct show_slot *slot = arg;
    *slot->code = s->code;
    if (!resp)
        return;
    size_t n = kehu__v1__response__get_packed_size(resp);
    uint8_t *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    kehu__v1__response__pack(resp, buf);
    *slot->out = kehu__v1__response__unpack(NULL, n, buf);
    free(buf);
}

static void grade_show_all(Kehu__V1__Response **out, int *codes)
{
    enum { WINDOW = 32 };
    struct show_slot *slots = calloc((size_t)ncs, sizeof *slots);
    Kehu__V1__GradeShow *m = calloc((size_t)ncs, sizeof *m);
    Kehu__V1__Request *req = calloc((size_t)ncs, sizeof *req);
    for (int i = 0; i < ncs; i++) {
        out[i] = NULL;
        codes[i] = -1;
        slots[i] = (struct show_slot){ &out[i], &codes[i] };
        kehu__v1__grade_show__init(&m[i]);
        m[i].customer_id = cs[i].id;
        kehu__v1__request__init(&req[i]);
        req[i].op_case = KEHU__V1__REQUEST__OP_GRADE_SHOW;
        req[i].grade_show = &m[i];
        struct kehu_status s;
        uint64_t rid;
        if (kehu_send(admin, &req[i], show_done, &slots[i], &rid, &s) < 0)
            fail_msg("grade_show %lld: %s", (long long)cs[i].id, s.message);
        while (kehu_pending(admin) >= WINDOW)
            if (kehu_run(admin, 60000) < 0)
                fail_msg("grade_show: the connection failed");
    }
    while (kehu_pending(admin) > 0)
        if (kehu_run(admin, 60000) < 0)
            fail_msg("grade_show: the connection failed");
    for (int i = 0; i < ncs; i++)
        if (!out[i])
            fail_msg("grade_show %lld: no response", (long long)cs[i].id);
    free(slots);
    free(m);
    free(req);
}

static void policy_set(const char *key, const char *value)
{
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT;
    fv.field = (char *)key;
    fv.value = (char *)value;
    Kehu__V1__FieldValue *vals[] = { &fv };
    Kehu__V1__GradePolicySet m = KEHU__V1__GRADE_POLICY_SET__INIT;
    m.n_values = 1;
    m.values = vals;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_POLICY_SET;
    req.grade_policy_set = &m;
    Kehu__V1__Response *r = it_call(admin, &req, C(OK));
    int found = 0;
    for (size_t k = 0; r->policy && k < r->policy->n_values; k++)
        if (strcmp(r->policy->values[k]->key, key) == 0) {
            found = 1;
            const char *got = r->policy->values[k]->value;
            char *end;
            double g = strtod(got, &end), w = strtod(value, NULL);
            if (*end ? strcmp(got, value) != 0 : fabs(g - w) > 1e-9)
                fail_msg("policy %s: set %s, shows %s", key, value, got);
        }
    if (!found)
        fail_msg("policy %s: not in the policy the server answered with", key);
    kehu_response_free(r);
}

static Kehu__V1__Response *override(kehu_client *c, int64_t cust, const char *dim, const char *grade,
                                    const char *until, int code)
{
    Kehu__V1__GradeOverride m = KEHU__V1__GRADE_OVERRIDE__INIT;
    m.customer_id = cust;
    m.dimension = (char *)dim;
    m.grade = (char *)grade;
    m.reason = "评级测试";
    m.until = (char *)(until ? until : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_OVERRIDE;
    req.grade_override = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *approve(kehu_client *c, int64_t id, struct kehu_status *st)
{
    Kehu__V1__GradeApprove m = KEHU__V1__GRADE_APPROVE__INIT;
    m.override_id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_APPROVE;
    req.grade_approve = &m;
    Kehu__V1__Response *r = kehu_call(c, &req, st);
    if (!r)
        fail_msg("grade_approve: %s", st->message);
    return r;
}

static Kehu__V1__Response *report_abc(void)
{
    Kehu__V1__ReportGet m = KEHU__V1__REPORT_GET__INIT;
    m.kind = "abc";
    m.top = 5;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REPORT_GET;
    req.report_get = &m;
    Kehu__V1__Response *r = it_call(admin, &req, C(OK));
    assert_non_null(r->report);
    return r;
}

/* ---------------------------------------------------------------- what kehud should hold */

struct cstate {
    int graded, is_new, hist, overridden_ever;
    grade_t eff[NDIM];      /* effective, as the last run left it */
    grade_t computed[NDIM]; /* what the rules gave in the last run */
    int64_t set_run[NDIM];  /* the run whose change set eff */
    struct expect last;     /* the last full run's model */
};
static struct cstate *st;

/* The last run computed the customer silent, churned or won back. */
static int was_lapsed(int i)
{
    if (!st || !st[i].graded)
        return 0;
    const char *l = st[i].computed[D_LIFE];
    return strcmp(l, "silent") == 0 || strcmp(l, "churned") == 0 || strcmp(l, "won_back") == 0;
}

struct ovr {
    int c, dim, active, until;
    grade_t grade;
    int64_t id;
};
static struct ovr ovrs[8];
static int novr;

/* the override a run as of D applies (interpretation 6) */
static const struct ovr *ovr_at(int c, int dim, int D)
{
    for (int k = novr - 1; k >= 0; k--)
        if (ovrs[k].c == c && ovrs[k].dim == dim && ovrs[k].active && ovrs[k].until >= D)
            return &ovrs[k];
    return NULL;
}

/* The grade of the override in force on dimension dim, or NULL. */
static const char *ovr_grade_at(int c, int dim, int D)
{
    const struct ovr *o = ovr_at(c, dim, D);
    return o ? o->grade : NULL;
}

struct tally {
    int dim;
    grade_t a, b;
    long n;
};

struct run_exp {
    const char *label;
    int lifecycle, D;
    struct expect *e;
    grade_t (*before)[NDIM];
    grade_t (*eff)[NDIM];
    unsigned *changed; /* dimensions changed, per customer */
    long customers, nchanged;
    struct tally counts[160], moves[400];
    int ncounts, nmoves;
};

static void tally(struct tally *t, int *n, int max, int dim, const char *a, const char *b, long add)
{
    for (int k = 0; k < *n; k++)
        if (t[k].dim == dim && strcmp(t[k].a, a) == 0 && strcmp(t[k].b, b) == 0) {
            t[k].n += add;
            return;
        }
    assert_true(*n < max);
    t[*n].dim = dim;
    snprintf(t[*n].a, sizeof t[*n].a, "%s", a);
    snprintf(t[*n].b, sizeof t[*n].b, "%s", b);
    t[*n].n = add;
    ++*n;
}

static void run_free(struct run_exp *re)
{
    free(re->e);
    free(re->before);
    free(re->eff);
    free(re->changed);
    memset(re, 0, sizeof *re);
}

/* What a run as of D (under pol and the overrides) should do. */
static void run_expect(struct run_exp *re, const char *label, int lifecycle, int D)
{
    memset(re, 0, sizeof *re);
    re->label = label;
    re->lifecycle = lifecycle;
    re->D = D;
    re->e = calloc((size_t)ncs, sizeof *re->e);
    re->before = calloc((size_t)ncs, sizeof *re->before);
    re->eff = calloc((size_t)ncs, sizeof *re->eff);
    re->changed = calloc((size_t)ncs, sizeof *re->changed);
    model_eval(&pol, D, re->e);
    int odd = 0;
    for (int i = 0; i < ncs; i++) {
        memcpy(re->before[i], st[i].eff, sizeof st[i].eff);
        memcpy(re->eff[i], st[i].eff, sizeof st[i].eff);
        if (!re->e[i].graded) {
            if (st[i].graded && odd++ == 0)
                print_error("it_grade: model: customer %lld graded before, not as of %s\n", (long long)cs[i].id,
                            dstr(D));
            continue;
        }
        if (lifecycle && !st[i].graded && odd++ == 0)
            print_error("it_grade: model: customer %lld (and maybe more) first graded by a lifecycle run"
                        " (an earlier run failed?)\n", (long long)cs[i].id);
        re->customers++;
        for (int d = 0; d < NDIM; d++) {
            if (lifecycle && d != D_LIFE)
                continue;
            const struct ovr *o = ovr_at(i, d, D);
            snprintf(re->eff[i][d], sizeof re->eff[i][d], "%s", o ? o->grade : re->e[i].g[d]);
            if (strcmp(re->eff[i][d], st[i].eff[d]) != 0) {
                re->changed[i] |= 1u << d;
                tally(re->moves, &re->nmoves, 400, d, st[i].eff[d], re->eff[i][d], 1);
            }
            if (re->eff[i][d][0])
                tally(re->counts, &re->ncounts, 160, d, re->eff[i][d], "", 1);
        }
        re->nchanged += re->changed[i] != 0;
    }
}

/* The run happened (not for a dry run). */
static void run_commit(const struct run_exp *re, int64_t run_id)
{
    for (int i = 0; i < ncs; i++) {
        if (!re->e[i].graded)
            continue;
        for (int d = 0; d < NDIM; d++)
            if (re->changed[i] & (1u << d)) {
                st[i].set_run[d] = run_id;
                st[i].hist++;
            }
        memcpy(st[i].eff, re->eff[i], sizeof st[i].eff);
        if (re->lifecycle) {
            memcpy(st[i].computed[D_LIFE], re->e[i].g[D_LIFE], sizeof(grade_t));
        } else {
            memcpy(st[i].computed, re->e[i].g, sizeof st[i].computed);
            st[i].is_new = re->e[i].is_new;
            st[i].last = re->e[i];
        }
        st[i].graded = 1;
    }
}

/* ---------------------------------------------------------------- comparing */

static long dim_checks, dim_passed, other_checks, other_passed; /* over the whole program */
static long ph_dim, ph_dim_ok, ph_other, ph_other_ok, ph_printed;
static int64_t ph_start;

static void phase_begin(void)
{
    ph_dim = ph_dim_ok = ph_other = ph_other_ok = ph_printed = 0;
    ph_start = it_now_ms();
}

__attribute__((format(printf, 2, 3))) static void check(int ok, const char *fmt, ...)
{
    ph_other++;
    other_checks++;
    if (ok) {
        ph_other_ok++;
        other_passed++;
        return;
    }
    if (ph_printed++ < 300) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        print_error("  MISMATCH %s\n", msg);
    }
}

static void check_dim(const char *label, int i, int d, const char *want, const char *got, const char *note)
{
    ph_dim++;
    dim_checks++;
    if (strcmp(norm(want), norm(got)) == 0) {
        ph_dim_ok++;
        dim_passed++;
        return;
    }
    if (ph_printed++ < 300)
        print_error("  MISMATCH %s: customer %lld [%s] %s: expected '%s', got '%s'  (%s)\n", label,
                    (long long)cs[i].id, cs[i].tag, dim_names[d], norm(want), norm(got), note);
}

static void phase_end(const char *label)
{
    print_message("it_grade: %s: %ld/%ld customer x dimension checks passed, %ld/%ld other checks (%lld ms)\n",
                  label, ph_dim_ok, ph_dim, ph_other_ok, ph_other, (long long)(it_now_ms() - ph_start));
    if (ph_dim_ok != ph_dim || ph_other_ok != ph_other)
        fail_msg("%s: %ld mismatches (shown above)", label, (ph_dim - ph_dim_ok) + (ph_other - ph_other_ok));
}

/* The run's answer against the expectation: counts, moves, customers, changed. */
static void check_result(const struct run_exp *re, const Kehu__V1__GradeRunResult *g, int dry)
{
    const char *L = re->label;
    check(strcmp(g->as_of, dstr(re->D)) == 0, "%s: as_of %s, wanted %s", L, g->as_of, dstr(re->D));
    check(strcmp(g->kind, re->lifecycle ? "lifecycle" : "full") == 0, "%s: kind %s", L, g->kind);
    check(g->dry_run == dry, "%s: dry_run %d", L, g->dry_run);
    check(g->customers == re->customers, "%s: customers graded: expected %ld, got %lld", L, re->customers,
          (long long)g->customers);
    check(g->changed == re->nchanged, "%s: customers changed: expected %ld, got %lld", L, re->nchanged,
          (long long)g->changed);
    /* counts */
    struct tally got[160];
    int ngot = 0;
    for (size_t k = 0; k < g->n_counts; k++) {
        int d = dim_index(g->counts[k]->dimension);
        if (d < 0 || (re->lifecycle && d != D_LIFE) || !*norm(g->counts[k]->grade))
            continue; /* influence, none */
        tally(got, &ngot, 160, d, norm(g->counts[k]->grade), "", g->counts[k]->customers);
    }
    for (int k = 0; k < re->ncounts; k++) {
        long n = 0;
        for (int j = 0; j < ngot; j++)
            if (got[j].dim == re->counts[k].dim && strcmp(got[j].a, re->counts[k].a) == 0)
                n = got[j].n;
        check(n == re->counts[k].n, "%s: count %s=%s: expected %ld, got %ld", L, dim_names[re->counts[k].dim],
              re->counts[k].a, re->counts[k].n, n);
    }
    for (int j = 0; j < ngot; j++) {
        int known = 0;
        for (int k = 0; k < re->ncounts; k++)
            known |= got[j].dim == re->counts[k].dim && strcmp(got[j].a, re->counts[k].a) == 0;
        if (!known)
            check(got[j].n == 0, "%s: count %s=%s: expected 0, got %ld", L, dim_names[got[j].dim], got[j].a,
                  got[j].n);
    }
    /* moves */
    struct tally mv[400];
    int nmv = 0;
    for (size_t k = 0; k < g->n_moves; k++) {
        int d = dim_index(g->moves[k]->dimension);
        if (d < 0)
            continue;
        tally(mv, &nmv, 400, d, norm(g->moves[k]->from), norm(g->moves[k]->to), g->moves[k]->customers);
    }
    for (int k = 0; k < re->nmoves; k++) {
        long n = 0;
        for (int j = 0; j < nmv; j++)
            if (mv[j].dim == re->moves[k].dim && !strcmp(mv[j].a, re->moves[k].a) && !strcmp(mv[j].b, re->moves[k].b))
                n = mv[j].n;
        check(n == re->moves[k].n, "%s: move %s '%s' -> '%s': expected %ld, got %ld", L, dim_names[re->moves[k].dim],
              re->moves[k].a, re->moves[k].b, re->moves[k].n, n);
    }
    for (int j = 0; j < nmv; j++) {
        int known = 0;
        for (int k = 0; k < re->nmoves; k++)
            known |= mv[j].dim == re->moves[k].dim && !strcmp(mv[j].a, re->moves[k].a) &&
                     !strcmp(mv[j].b, re->moves[k].b);
        if (!known)
            check(mv[j].n == 0, "%s: move %s '%s' -> '%s': expected none, got %ld", L, dim_names[mv[j].dim], mv[j].a,
                  mv[j].b, mv[j].n);
    }
}

/* The override in force for reading now (interpretation 6). */
static const struct ovr *ovr_now(int c, int dim)
{
    return ovr_at(c, dim, today());
}

/* What reading a customer's grade should show: the last run's effective
 * grade, or an override in force now. */
static const char *reading(int i, int d)
{
    const struct ovr *o = ovr_now(i, d);
    return o ? o->grade : st[i].eff[d];
}

static const Kehu__V1__Grade *find_grade(Kehu__V1__Grade **g, size_t n, int d)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(g[k]->dimension, dim_names[d]) == 0)
            return g[k];
    return NULL;
}

/* Every customer through GradeShow against the state: every dimension;
 * with `full`, also the last full run's numbers; the history rows of `re`'s
 * run (if given, with its id). */
static void compare_customers(const char *label, const struct run_exp *re, int64_t run_id, int full)
{
    Kehu__V1__Response **all = calloc((size_t)ncs, sizeof *all);
    int *codes = calloc((size_t)ncs, sizeof *codes);
    grade_show_all(all, codes);
    for (int i = 0; i < ncs; i++) {
        struct kehu_status s = { .code = codes[i] };
        snprintf(s.message, sizeof s.message, "%s", all[i]->status ? all[i]->status->message : "");
        Kehu__V1__Response *r = all[i];
        const char *tag = cs[i].tag;
        long long id = (long long)cs[i].id;
        if (!st[i].graded) {
            int live = cs[i].status != ST_ARCHIVED && !cs[i].merged;
            if (s.code != C(OK)) {
                check(!live, "%s: customer %lld [%s]: grade show %s: %s", label, id, tag, kehu_code_name(s.code),
                      s.message);
            } else {
                size_t n = 0;
                for (size_t k = 0; r->grades && k < r->grades->n_grades; k++)
                    n += strcmp(r->grades->grades[k]->dimension, "influence") != 0 && *norm(r->grades->grades[k]->grade);
                check(n == 0, "%s: customer %lld [%s] is not graded, has %zu grades", label, id, tag, n);
                check(r->grades && r->grades->n_history == 0, "%s: customer %lld [%s] is not graded, has history",
                      label, id, tag);
            }
            kehu_response_free(r);
            continue;
        }
        if (s.code != C(OK) || !r->grades) {
            check(0, "%s: customer %lld [%s]: grade show %s: %s", label, id, tag, kehu_code_name(s.code), s.message);
            kehu_response_free(r);
            continue;
        }
        const Kehu__V1__CustomerGrades *cg = r->grades;
        for (int d = 0; d < NDIM; d++) {
            const Kehu__V1__Grade *g = find_grade(cg->grades, cg->n_grades, d);
            const char *want = reading(i, d);
            const struct ovr *o = ovr_now(i, d);
            char note[400];
            snprintf(note, sizeof note, "%s%s", st[i].last.why[d], o ? "; an override in force" : "");
            check_dim(label, i, d, want, g ? g->grade : "", note);
            if (!g)
                continue;
            check(g->overridden == (o != NULL), "%s: customer %lld [%s] %s: overridden %d", label, id, tag,
                  dim_names[d], g->overridden);
            if (o)
                check(strcmp(norm(g->computed), norm(st[i].computed[d])) == 0,
                      "%s: customer %lld [%s] %s: computed '%s', expected '%s'", label, id, tag, dim_names[d],
                      g->computed, st[i].computed[d]);
            else
                check(g->run_id == st[i].set_run[d], "%s: customer %lld [%s] %s: run_id %lld, expected %lld (the run "
                      "that set '%s')", label, id, tag, dim_names[d], (long long)g->run_id,
                      (long long)st[i].set_run[d], g->grade);
            if (d == D_ABC && !o)
                check(g->is_new == st[i].is_new, "%s: customer %lld [%s] abc: is_new %d, expected %d (%s)", label,
                      id, tag, g->is_new, st[i].is_new, st[i].last.why[D_ABC]);
        }
        for (size_t k = 0; k < cg->n_grades; k++)
            if (strcmp(cg->grades[k]->dimension, "influence") == 0)
                check(strcmp(norm(cg->grades[k]->grade), "medium") == 0, "%s: customer %lld influence %s", label, id,
                      cg->grades[k]->grade);
        if (full) {
            const struct expect *e = &st[i].last;
            check(cg->metric_minor == e->metric, "%s: customer %lld [%s] metric %s, expected %s (%s)", label, id, tag,
                  money(cg->metric_minor), money(e->metric), e->why[D_ABC]);
            check(cg->sales_minor == e->sales, "%s: customer %lld [%s] sales %s, expected %s", label, id, tag,
                  money(cg->sales_minor), money(e->sales));
            check(cg->aum_minor == e->aum, "%s: customer %lld [%s] aum %s, expected %s", label, id, tag,
                  money(cg->aum_minor), money(e->aum));
            double score = strtod(cg->score, NULL);
            check(*cg->score && (long)(score * 10 + (score < 0 ? -0.5 : 0.5)) == e->score10, "%s: customer %lld [%s] score '%s', expected "
                  "%d.%d (%s)", label, id, tag, cg->score, e->score10 / 10, e->score10 % 10, e->why[D_VALUE]);
            check(strcmp(cg->relationship_since, dstr(e->start)) == 0,
                  "%s: customer %lld [%s] relationship_since %s, expected %s", label, id, tag, cg->relationship_since,
                  dstr(e->start));
            check(strcmp(cg->last_purchase, dstr(e->last)) == 0, "%s: customer %lld [%s] last_purchase '%s', "
                  "expected '%s'", label, id, tag, cg->last_purchase, dstr(e->last));
            check(cg->run_id == run_id, "%s: customer %lld [%s] run_id %lld, expected %lld (CustomerGrades.run_id: "
                  "the last run that graded it)", label, id, tag, (long long)cg->run_id, (long long)run_id);
            check(strcmp(cg->as_of, dstr(re->D)) == 0, "%s: customer %lld as_of %s", label, id, cg->as_of);
            int held = strstr(e->why[D_ABC], "held at B") != NULL;
            check((*cg->abc_note != 0) == held && (!held || strstr(cg->abc_note, "abc.credit_floor")),
                  "%s: customer %lld [%s] abc_note '%s', expected %s (%s)", label, id, tag, cg->abc_note,
                  held ? "held at B" : "none", e->why[D_ABC]);
        }
        if (re) { /* the history rows of this run: exactly the dimensions it changed */
            int nrun = 0;
            for (size_t k = 0; k < cg->n_history; k++) {
                const Kehu__V1__GradeChange *h = cg->history[k];
                if (h->run_id != run_id)
                    continue;
                nrun++;
                int d = dim_index(h->dimension);
                int ok = d >= 0 && (re->changed[i] & (1u << d)) && !strcmp(norm(h->from), norm(re->before[i][d])) &&
                         !strcmp(norm(h->to), norm(re->eff[i][d]));
                check(ok, "%s: customer %lld [%s] history row %s '%s' -> '%s' not expected", label, id, tag,
                      h->dimension, h->from, h->to);
            }
            int want = __builtin_popcount(re->changed[i]);
            check(nrun == want, "%s: customer %lld [%s] %d history rows for run %lld, expected %d", label, id, tag, nrun,
                  (long long)run_id, want);
            if (!st[i].overridden_ever) {
                int total = st[i].hist < 50 ? st[i].hist : 50;
                check((int)cg->n_history == total, "%s: customer %lld [%s] history length %zu, expected %d", label,
                      id, tag, cg->n_history, total);
            }
        }
        kehu_response_free(r);
    }
    free(all);
    free(codes);
}

/* A serialisation of everything GradeShow says of every customer (for "a dry run changes nothing"). */
static char *snapshot_all(void)
{
    struct sb b = { 0 };
    Kehu__V1__Response **all = calloc((size_t)ncs, sizeof *all);
    int *codes = calloc((size_t)ncs, sizeof *codes);
    grade_show_all(all, codes);
    for (int i = 0; i < ncs; i++) {
        Kehu__V1__Response *r = all[i];
        sb_printf(&b, "%lld %d", (long long)cs[i].id, codes[i]);
        if (codes[i] == C(OK) && r->grades) {
            const Kehu__V1__CustomerGrades *cg = r->grades;
            sb_printf(&b, " run %lld %s metric %lld history %zu:", (long long)cg->run_id, cg->as_of,
                      (long long)cg->metric_minor, cg->n_history);
            for (size_t k = 0; k < cg->n_grades; k++)
                sb_printf(&b, " %s=%s/%lld/%d/%s", cg->grades[k]->dimension, cg->grades[k]->grade,
                          (long long)cg->grades[k]->run_id, cg->grades[k]->overridden, cg->grades[k]->set_on);
        }
        sb_printf(&b, "\n");
        kehu_response_free(r);
    }
    free(all);
    free(codes);
    return b.p;
}

static void check_same_snapshot(const char *label, const char *before, const char *after)
{
    if (strcmp(before, after) == 0) {
        check(1, "%s", "ok");
        return;
    }
    const char *a = before, *b = after;
    while (*a && *a == *b)
        a++, b++;
    while (a > before && a[-1] != '\n')
        a--, b--;
    check(0, "%s: the dry run changed what GradeShow says: before '%.*s', after '%.*s'", label,
          (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* CustomerList{grade} (all pages) against the customers the state gives. */
static void check_list(const char *label, const char *filter, int dim, const char *grade)
{
    int64_t *got = calloc((size_t)ncs + 1, sizeof *got), *want = calloc((size_t)ncs + 1, sizeof *want);
    int ngot = 0, nwant = 0;
    char after[256] = "";
    for (int page = 0; page < 10; page++) {
        Kehu__V1__CustomerList m = KEHU__V1__CUSTOMER_LIST__INIT;
        m.grade = (char *)filter;
        m.limit = 1000;
        m.after = after;
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_LIST;
        req.customer_list = &m;
        Kehu__V1__Response *r = it_call(admin, &req, C(OK));
        for (size_t k = 0; k < r->customers->n_customers && ngot < ncs; k++)
            got[ngot++] = r->customers->customers[k]->id;
        snprintf(after, sizeof after, "%s", r->customers->next_cursor);
        kehu_response_free(r);
        if (!*after)
            break;
    }
    for (int i = 0; i < ncs; i++)
        if (st[i].graded && strcmp(reading(i, dim), grade) == 0)
            want[nwant++] = cs[i].id;
    qsort(got, (size_t)ngot, sizeof *got, cmp_i64);
    qsort(want, (size_t)nwant, sizeof *want, cmp_i64);
    int a = 0, b = 0;
    while (a < nwant || b < ngot) {
        if (b >= ngot || (a < nwant && want[a] < got[b])) {
            check(0, "%s: customer list '%s' lacks %lld [%s]", label, filter, (long long)want[a],
                  cs[want[a] - 1001].tag);
            a++;
        } else if (a >= nwant || got[b] < want[a]) {
            int i = (int)(got[b] - 1001);
            check(0, "%s: customer list '%s' has %lld [%s], whose %s is '%s'", label, filter, (long long)got[b],
                  i >= 0 && i < ncs ? cs[i].tag : "?", dim_names[dim], i >= 0 && i < ncs ? reading(i, dim) : "?");
            b++;
        } else {
            check(1, "%s", "ok");
            a++, b++;
        }
    }
    print_message("it_grade: %s: customer list '%s': %d customers\n", label, filter, nwant);
    free(got);
    free(want);
}

/* CustomerGet's grades against the reading, for every step-th customer and one more. */
static void check_customer_get(const char *label, int step, int also)
{
    for (int i = 0; i < ncs; i++) {
        if ((i % step != 0 && i != also) || !st[i].graded)
            continue;
        Kehu__V1__CustomerGet m = KEHU__V1__CUSTOMER_GET__INIT;
        m.id = cs[i].id;
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
        req.customer_get = &m;
        Kehu__V1__Response *r = it_call(admin, &req, C(OK));
        for (int d = 0; d < NDIM; d++) {
            const Kehu__V1__Grade *g = find_grade(r->customer->grades, r->customer->n_grades, d);
            check(!strcmp(norm(g ? g->grade : ""), norm(reading(i, d))),
                  "%s: customer get %lld [%s] %s: expected '%s', got '%s'", label, (long long)cs[i].id, cs[i].tag,
                  dim_names[d], norm(reading(i, d)), g ? g->grade : "(absent)");
        }
        kehu_response_free(r);
    }
}

static int share_ok(double got, int64_t num, int64_t den)
{
    double want = den ? (double)num / (double)den : 0;
    return fabs(got - want) <= 5e-4 || fabs(got - 100 * want) <= 0.05;
}

/* ReportGet abc (the latest run): rows per grade; the migration from the
 * run before (prev: each customer's abc then, NULL not checked); with
 * tops, the first customers of A and B. */
static void check_report(const char *label, int64_t run_id, int D, int64_t prev_run, grade_t (*prev)[NDIM], int tops)
{
    static const char *const abc[] = { "A", "B", "C" };
    Kehu__V1__Response *r = report_abc();
    const Kehu__V1__Report *rep = r->report;
    check(rep->run_id == run_id, "%s: report run_id %lld, expected %lld", label, (long long)rep->run_id,
          (long long)run_id);
    check(strcmp(rep->as_of, dstr(D)) == 0, "%s: report as_of %s", label, rep->as_of);
    check(strcmp(rep->metric, pol.metric_margin ? "margin" : "revenue") == 0, "%s: report metric %s", label,
          rep->metric);
    int64_t n[3] = { 0 }, total[3] = { 0 }, all = 0, all_metric = 0;
    for (int i = 0; i < ncs; i++) {
        if (!st[i].graded)
            continue;
        for (int g = 0; g < 3; g++)
            if (strcmp(st[i].eff[D_ABC], abc[g]) == 0) {
                n[g]++;
                total[g] += st[i].last.metric;
            }
        all++;
        all_metric += st[i].last.metric;
    }
    for (int g = 0; g < 3; g++) {
        const Kehu__V1__ReportRow *row = NULL;
        for (size_t k = 0; k < rep->n_rows; k++)
            if ((!*rep->rows[k]->dimension || !strcmp(rep->rows[k]->dimension, "abc")) &&
                !strcmp(rep->rows[k]->grade, abc[g]))
                row = rep->rows[k];
        if (!row) {
            check(n[g] == 0, "%s: report has no row for %s (expected %lld customers)", label, abc[g], (long long)n[g]);
            continue;
        }
        check(row->customers == n[g], "%s: report %s customers %lld, expected %lld", label, abc[g],
              (long long)row->customers, (long long)n[g]);
        check(row->metric_total_minor == total[g], "%s: report %s metric total %s, expected %s", label, abc[g],
              money(row->metric_total_minor), money(total[g]));
        check(share_ok(row->customer_share, n[g], all), "%s: report %s customer share %g, expected %lld/%lld", label,
              abc[g], row->customer_share, (long long)n[g], (long long)all);
        check(share_ok(row->metric_share, total[g], all_metric), "%s: report %s metric share %g, expected %s/%s",
              label, abc[g], row->metric_share, money(total[g]), money(all_metric));
    }
    print_message("it_grade: %s: report abc: A %lld customers %s, B %lld %s, C %lld %s (of %lld, %s)\n", label,
                  (long long)n[0], money(total[0]), (long long)n[1], money(total[1]), (long long)n[2], money(total[2]),
                  (long long)all, money(all_metric));
    if (prev) { /* the migration matrix: off the diagonal exactly; the diagonal if given */
        check(rep->from_run == prev_run, "%s: report from_run %lld, expected %lld", label, (long long)rep->from_run,
              (long long)prev_run);
        struct tally want[16];
        int nwant = 0;
        for (int i = 0; i < ncs; i++)
            if (st[i].graded && prev[i][D_ABC][0])
                tally(want, &nwant, 16, D_ABC, prev[i][D_ABC], st[i].eff[D_ABC], 1);
        for (int k = 0; k < nwant; k++) {
            long got = -1;
            for (size_t j = 0; j < rep->n_migration; j++) {
                const Kehu__V1__GradeMove *m = rep->migration[j];
                if ((!*m->dimension || !strcmp(m->dimension, "abc")) && !strcmp(m->from, want[k].a) &&
                    !strcmp(m->to, want[k].b))
                    got = m->customers;
            }
            int diagonal = !strcmp(want[k].a, want[k].b);
            check(got == want[k].n || (diagonal && got == -1), "%s: report migration %s -> %s: expected %ld, got %ld",
                  label, want[k].a, want[k].b, want[k].n, got);
        }
        for (size_t j = 0; j < rep->n_migration; j++) {
            const Kehu__V1__GradeMove *m = rep->migration[j];
            int known = 0;
            for (int k = 0; k < nwant; k++)
                known |= !strcmp(m->from, want[k].a) && !strcmp(m->to, want[k].b);
            if (!known && (!*m->dimension || !strcmp(m->dimension, "abc")))
                check(m->customers == 0, "%s: report migration %s -> %s: %lld, expected none", label, m->from, m->to,
                      (long long)m->customers);
        }
    }
    if (tops) { /* the first customers of A and B, by metric then id */
        for (int g = 0; g < 2; g++) {
            int64_t want[5];
            int nwant = 0;
            for (int pass = 0; pass < 5; pass++) {
                int best = -1;
                for (int i = 0; i < ncs; i++) {
                    if (!st[i].graded || strcmp(st[i].eff[D_ABC], abc[g]) != 0)
                        continue;
                    int taken = 0;
                    for (int k = 0; k < nwant; k++)
                        taken |= want[k] == cs[i].id;
                    if (taken)
                        continue;
                    if (best < 0 || st[i].last.metric > st[best].last.metric)
                        best = i;
                }
                if (best >= 0)
                    want[nwant++] = cs[best].id;
            }
            int k = 0;
            for (size_t j = 0; j < rep->n_top; j++) {
                if (strcmp(rep->top[j]->grade, abc[g]) != 0)
                    continue;
                check(k < nwant && rep->top[j]->customer_id == want[k], "%s: report top %s #%d: customer %lld, "
                      "expected %lld", label, abc[g], k + 1, (long long)rep->top[j]->customer_id,
                      (long long)(k < nwant ? want[k] : 0));
                if (k < nwant)
                    check(rep->top[j]->metric_minor == st[want[k] - 1001].last.metric,
                          "%s: report top %s customer %lld metric %s", label, abc[g], (long long)want[k],
                          money(rep->top[j]->metric_minor));
                k++;
            }
            check(k == nwant, "%s: report top %s has %d customers, expected %d", label, abc[g], k, nwant);
        }
    }
    kehu_response_free(r);
}

/* The open churn warnings against the reasons of the last full run. */
static void check_churn(const char *label, long raised_got)
{
    static const char *const names[] = { "frequency_drop", "amount_drop", "silent" };
    Kehu__V1__ChurnList m = KEHU__V1__CHURN_LIST__INIT;
    m.limit = 1000;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CHURN_LIST;
    req.churn_list = &m;
    Kehu__V1__Response *r = it_call(admin, &req, C(OK));
    int *got = calloc((size_t)ncs, sizeof *got);
    for (size_t k = 0; k < r->churn_warnings->n_warnings; k++) {
        const Kehu__V1__ChurnWarning *w = r->churn_warnings->warnings[k];
        int i = (int)(w->customer_id - 1001);
        if (i < 0 || i >= ncs) {
            check(0, "%s: a churn warning for an unknown customer %lld", label, (long long)w->customer_id);
            continue;
        }
        check(got[i] == 0, "%s: two open churn warnings for customer %lld", label, (long long)w->customer_id);
        got[i] |= 8; /* a warning */
        for (size_t j = 0; j < w->n_reasons; j++)
            if (!strcmp(w->reasons[j], "aum_drop"))
                got[i] |= R_AUM;
        for (size_t j = 0; j < w->n_reasons; j++)
            for (int b = 0; b < 3; b++)
                if (!strcmp(w->reasons[j], names[b]))
                    got[i] |= 1 << b;
    }
    long want_n = 0;
    for (int i = 0; i < ncs; i++) {
        int want = st[i].graded && st[i].last.reasons ? st[i].last.reasons | 8 : 0;
        want_n += want != 0;
        check(got[i] == want, "%s: customer %lld [%s] churn reasons %s%s%s%s%s, expected %s%s%s%s (%s)", label,
              (long long)cs[i].id, cs[i].tag, got[i] ? "" : "no warning", got[i] & 1 ? "frequency_drop " : "",
              got[i] & 2 ? "amount_drop " : "", got[i] & 4 ? "silent " : "", got[i] & R_AUM ? "aum_drop" : "",
              want & 1 ? "frequency_drop " : "", want & 2 ? "amount_drop " : "", want & 4 ? "silent " : "",
              want & R_AUM ? "aum_drop" : want ? "" : "none", st[i].last.why[D_LIFE]);
    }
    check(raised_got == want_n, "%s: warnings raised %ld, expected %ld", label, raised_got, want_n);
    print_message("it_grade: %s: %ld churn warnings\n", label, want_n);
    free(got);
    kehu_response_free(r);
}

/* ---------------------------------------------------------------- the runs */

static int64_t run_ids[16];
static int nruns;

/* A real run: the expectation, the run, its answer checked, the state
 * moved on. Returns the answer (free with kehu_response_free). */
static Kehu__V1__Response *do_run(struct run_exp *re, const char *label, int lifecycle, int D, int64_t *id)
{
    run_expect(re, label, lifecycle, D);
    Kehu__V1__Response *r = grade_run(0, D, lifecycle ? "lifecycle" : "full");
    *id = r->grade_run->run_id;
    run_commit(re, *id);
    check(*id > 0 && (nruns == 0 || *id != run_ids[nruns - 1]), "%s: run_id %lld", label, (long long)*id);
    run_ids[nruns++] = *id;
    check_result(re, r->grade_run, 0);
    print_message("it_grade: %s: run %lld as of %s (%s): %ld customers, %ld changed, %lld warnings raised, %lld ms\n",
                  label, (long long)*id, dstr(D), lifecycle ? "lifecycle" : "full", re->customers, re->nchanged,
                  (long long)r->grade_run->warnings_raised, (long long)r->grade_run->duration_ms);
    return r;
}

/* Two runs' answers agree (a dry run and the real one after it). */
static void check_same_result(const char *label, const Kehu__V1__GradeRunResult *a, const Kehu__V1__GradeRunResult *b)
{
    check(a->customers == b->customers && a->changed == b->changed && a->n_counts == b->n_counts &&
              a->n_moves == b->n_moves,
          "%s: dry run said %lld customers, %lld changed, %zu counts, %zu moves; the run %lld, %lld, %zu, %zu", label,
          (long long)a->customers, (long long)a->changed, a->n_counts, a->n_moves, (long long)b->customers,
          (long long)b->changed, b->n_counts, b->n_moves);
    for (size_t k = 0; k < a->n_counts; k++) {
        int found = 0;
        for (size_t j = 0; j < b->n_counts; j++)
            found |= !strcmp(a->counts[k]->dimension, b->counts[j]->dimension) &&
                     !strcmp(a->counts[k]->grade, b->counts[j]->grade) &&
                     a->counts[k]->customers == b->counts[j]->customers;
        check(found, "%s: dry run count %s=%s %lld not in the run's", label, a->counts[k]->dimension,
              a->counts[k]->grade, (long long)a->counts[k]->customers);
    }
    for (size_t k = 0; k < a->n_moves; k++) {
        int found = 0;
        for (size_t j = 0; j < b->n_moves; j++)
            found |= !strcmp(a->moves[k]->dimension, b->moves[j]->dimension) &&
                     !strcmp(a->moves[k]->from, b->moves[j]->from) && !strcmp(a->moves[k]->to, b->moves[j]->to) &&
                     a->moves[k]->customers == b->moves[j]->customers;
        check(found, "%s: dry run move %s %s -> %s %lld not in the run's", label, a->moves[k]->dimension,
              a->moves[k]->from, a->moves[k]->to, (long long)a->moves[k]->customers);
    }
}

static Kehu__V1__Response *r0; /* the first dry run's answer */
static grade_t (*eff_at[16])[NDIM]; /* the effective grades after each run, by run index */

static void keep_grades(void)
{
    eff_at[nruns - 1] = malloc(sizeof(grade_t[NDIM]) * (size_t)ncs);
    for (int i = 0; i < ncs; i++)
        memcpy(eff_at[nruns - 1][i], st[i].eff, sizeof st[i].eff);
}

/* ---------------------------------------------------------------- the tests */

static int setup(void **state)
{
    (void)state;
    if (th_env_up(&it_env, NULL) < 0)
        return -1;
    it_org_build(&org);
    admin = org.admin;
    kehu_set_timeout(admin, 120000);
    D1 = DAY(2025, 6, 15);
    D2 = DAY(2025, 7, 15);
    D3 = DAY(2025, 8, 15);
    D4 = DAY(2025, 10, 15);
    D5 = DAY(2025, 11, 30);
    return 0;
}

static int teardown(void **state)
{
    print_message("it_grade: total: %ld/%ld customer x dimension checks passed, %ld/%ld other checks passed\n",
                  dim_passed, dim_checks, other_passed, other_checks);
    if (r0)
        kehu_response_free(r0);
    it_org_close(&org);
    return it_teardown(state);
}

/* The data: generated, tied at the cuts, written, and covering every grade. */
static void test_load(void **state)
{
    (void)state;
    int64_t t0 = it_now_ms();
    gen_crafted();
    gen_random(240);
    make_tie(500, 0);  /* A/B at a_share 0.05 */
    make_tie(500, 1);  /* B/C at b_share 0.20 */
    make_tie(1000, 0); /* A/B at a_share 0.10 (R2) */
    index_build();
    load_database();
    st = calloc((size_t)ncs, sizeof *st);
    st[cust_x].overridden_ever = st[cust_y].overridden_ever = 1;

    /* the data must reach every grade of every dimension at D1, and tie across the cuts */
    struct expect *e = calloc((size_t)ncs, sizeof *e);
    model_eval(&pol, D1, e);
    static const char *const all[NDIM][10] = {
        { "A", "B", "C" },
        { "A", "B", "C", "D" },
        { "high", "medium", "low" },
        { "general", "wealth", "vip" },
        { "new", "active", "loyal", "silent", "churned", "won_back" },
        { "AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C" },
        { "price", "quality", "service" },
        { "high", "low" },
    };
    for (int d = 0; d < NDIM; d++)
        for (int k = 0; k < 10 && all[d][k]; k++) {
            int n = 0;
            for (int i = 0; i < ncs; i++)
                n += e[i].graded && !strcmp(e[i].g[d], all[d][k]);
            /* won back needs a lapse an earlier run saw: never on a first grading (R4 checks it) */
            if (n == 0 && !(d == D_LIFE && !strcmp(all[d][k], "won_back")))
                fail_msg("the generated data has no %s=%s as of %s: fix the generator", dim_names[d], all[d][k],
                         dstr(D1));
            if (n != 0 && d == D_LIFE && !strcmp(all[d][k], "won_back"))
                fail_msg("a first grading as of %s calls %d customers won back", dstr(D1), n);
        }
    if (strcmp(e[cust_yearly].g[D_LIFE], "silent") == 0 || strcmp(e[cust_yearly].g[D_LIFE], "churned") == 0)
        fail_msg("a customer buying twice a year is %s 120 days after its last purchase (%s)",
                 e[cust_yearly].g[D_LIFE], e[cust_yearly].why[D_LIFE]);
    int held = 0;
    for (int i = 0; i < ncs; i++)
        held += e[i].graded && strstr(e[i].why[D_ABC], "held at B") != NULL;
    if (held == 0)
        fail_msg("the generated data has no customer held at B by its credit as of %s: fix the generator", dstr(D1));
    int graded = 0, isnew = 0, ties = 0;
    for (int i = 0; i < ncs; i++) {
        graded += e[i].graded;
        isnew += e[i].graded && e[i].is_new;
        for (int j = i + 1; j < ncs; j++)
            ties += e[i].graded && e[j].graded && !e[i].is_new && !e[j].is_new && e[i].metric == e[j].metric &&
                    e[i].metric > 0 && strcmp(e[i].g[D_ABC], e[j].g[D_ABC]) != 0;
    }
    if (ties < 2)
        fail_msg("the generated data has %d ties across a cut as of %s: fix the generator", ties, dstr(D1));
    print_message("it_grade: %d customers (%d graded as of %s, %d new), %d transactions, %d payments, %d snapshots, "
                  "%d follow-ups, %d ties across a cut; %lld ms\n",
                  ncs, graded, dstr(D1), isnew, ntx, npy, nsn, nfu, ties, (long long)(it_now_ms() - t0));
    free(e);
}

/* R0: a dry run before any run reports what R1 will and stores nothing. */
static void test_dry_run_first(void **state)
{
    (void)state;
    assert_non_null(st);
    phase_begin();
    /* the fixed volume thresholds the model knows (the default takes quantiles of the base) */
    policy_set("volume.basis", "fixed");
    policy_set("churn.month_share", "1"); /* every warning the model expects */
    struct run_exp re;
    run_expect(&re, "R0 dry run", 0, D1);
    r0 = grade_run(1, D1, "full");
    check_result(&re, r0->grade_run, 1);
    compare_customers("R0 dry run", NULL, 0, 0); /* still nobody graded */
    run_free(&re);
    phase_end("R0 dry run as of 2025-06-15");
}

/* R1: the first run; every customer, the report, lists, churn warnings. */
static void test_first_run(void **state)
{
    (void)state;
    assert_non_null(st);
    phase_begin();
    struct run_exp re;
    int64_t id;
    Kehu__V1__Response *r = do_run(&re, "R1", 0, D1, &id);
    keep_grades();
    if (r0)
        check_same_result("R1 vs the dry run R0", r0->grade_run, r->grade_run);
    compare_customers("R1", &re, id, 1);
    check_customer_get("R1", 7, -1);
    check_report("R1", id, D1, 0, NULL, 1);
    check_list("R1", "A", D_ABC, "A");
    check_list("R1", "lifecycle=silent", D_LIFE, "silent");
    check_list("R1", "credit=AA", D_CREDIT, "AA");
    check_churn("R1", (long)r->grade_run->warnings_raised);
    /* the same run again changes nothing and raises nothing */
    Kehu__V1__Response *again = grade_run(1, D1, "full");
    check(again->grade_run->changed == 0 && again->grade_run->warnings_raised == 0 && again->grade_run->n_moves == 0,
          "R1: a dry run as of D1 right after it: %lld changed, %zu moves, %lld warnings raised, expected none",
          (long long)again->grade_run->changed, again->grade_run->n_moves,
          (long long)again->grade_run->warnings_raised);
    kehu_response_free(again);
    kehu_response_free(r);
    run_free(&re);
    phase_end("R1 full as of 2025-06-15");
}

/* R2: abc.a_share 0.05 -> 0.10: B customers move to A, nothing else. */
static void test_threshold_abc_share(void **state)
{
    (void)state;
    assert_non_null(st);
    phase_begin();
    policy_set("abc.a_share", "0.10");
    pol.a_bp = 1000;
    struct run_exp re;
    int64_t id;
    Kehu__V1__Response *r = do_run(&re, "R2", 0, D1, &id);
    keep_grades();
    long up = 0;
    for (int k = 0; k < re.nmoves; k++) {
        if (re.moves[k].dim != D_ABC || strcmp(re.moves[k].a, "B") != 0 || strcmp(re.moves[k].b, "A") != 0)
            print_error("it_grade: model: R2 moves %s %s -> %s\n", dim_names[re.moves[k].dim], re.moves[k].a,
                        re.moves[k].b);
        else
            up += re.moves[k].n;
    }
    check(up > 0 && up == re.nchanged, "R2: the model moves %ld customers B -> A of %ld changed", up, re.nchanged);
    check(r->grade_run->warnings_raised == 0, "R2: %lld warnings raised, expected 0 (same date, same data)",
          (long long)r->grade_run->warnings_raised);
    compare_customers("R2", &re, id, 1);
    check_report("R2", id, D1, run_ids[nruns - 2], eff_at[nruns - 2], 0);
    check_list("R2", "abc=A", D_ABC, "A");
    kehu_response_free(r);
    run_free(&re);
    phase_end("R2 abc.a_share=0.10 as of 2025-06-15");
}

/* R3: volume.a_min 1000000 -> 500000: volume B -> A, value tiers with it. */
static void test_threshold_volume(void **state)
{
    (void)state;
    assert_non_null(st);
    phase_begin();
    policy_set("volume.a_min", "500000");
    pol.vol_a = 500000 * 100LL;
    struct run_exp re;
    int64_t id;
    Kehu__V1__Response *r = do_run(&re, "R3", 0, D1, &id);
    keep_grades();
    long vol = 0;
    for (int k = 0; k < re.nmoves; k++)
        if (re.moves[k].dim == D_VOLUME)
            vol += re.moves[k].n;
    check(vol > 0, "R3: the model moves nobody's volume (fix the generator)");
    compare_customers("R3", &re, id, 1);
    kehu_response_free(r);
    run_free(&re);
    phase_end("R3 volume.a_min=500000 as of 2025-06-15");
}

static int64_t ovr_x_id, ovr_y_id;

/* An admin's override reads at once; an account manager's raise to A is
 * pending; a dry run as of D2 changes nothing and says what R4 then does. */
static void test_overrides_and_dry_run(void **state)
{
    (void)state;
    assert_non_null(st);
    phase_begin();
    char until[11];
    snprintf(until, sizeof until, "%s", dstr(today() + 1));
    Kehu__V1__Response *r = override(admin, cs[cust_x].id, "abc", "A", until, C(OK));
    const Kehu__V1__GradeOverrideInfo *o = r->override;
    check(o && !strcmp(o->status, "active") && !strcmp(o->grade, "A") && !strcmp(o->dimension, "abc") &&
              o->customer_id == cs[cust_x].id && !strcmp(o->until, until),
          "override X by admin: status %s grade %s dimension %s until %s", o ? o->status : "-", o ? o->grade : "-",
          o ? o->dimension : "-", o ? o->until : "-");
    ovr_x_id = o ? o->id : 0;
    ovrs[novr++] = (struct ovr){ .c = cust_x, .dim = D_ABC, .active = 1, .until = today() + 1, .grade = "A",
                                 .id = ovr_x_id };
    kehu_response_free(r);

    r = override(org.li, cs[cust_y].id, "abc", "A", NULL, C(OK));
    o = r->override;
    check(o && !strcmp(o->status, "pending"), "override Y by li.lei: status %s, expected pending",
          o ? o->status : "-");
    ovr_y_id = o ? o->id : 0;
    ovrs[novr++] = (struct ovr){ .c = cust_y, .dim = D_ABC, .active = 0, .until = FOREVER, .grade = "A",
                                 .id = ovr_y_id };
    kehu_response_free(r);

    /* X reads A at once (GradeShow, CustomerGet, CustomerList), Y as before */
    compare_customers("overrides given", NULL, 0, 0);
    check_customer_get("overrides given", 1000000, cust_x);
    check_customer_get("overrides given", 1000000, cust_y);
    check_list("overrides given", "A", D_ABC, "A");

    /* a dry run as of D2 changes nothing: every grade and history, the latest run */
    char *before = snapshot_all();
    Kehu__V1__Response *rep = report_abc();
    int64_t latest = rep->report->run_id;
    kehu_response_free(rep);
    struct run_exp re;
    run_expect(&re, "dry run D2", 0, D2);
    Kehu__V1__Response *dry = grade_run(1, D2, "full");
    check_result(&re, dry->grade_run, 1);
    run_free(&re);
    char *after = snapshot_all();
    check_same_snapshot("dry run D2", before, after);
    free(before);
    free(after);
    rep = report_abc();
    check(rep->report->run_id == latest, "dry run D2: the latest run is now %lld, was %lld",
          (long long)rep->report->run_id, (long long)latest);
    kehu_response_free(rep);

    /* R4: what the dry run said; X's override applied, Y's pending one not */
    int64_t id;
    r = do_run(&re, "R4", 0, D2, &id);
    keep_grades();
    check_same_result("R4 vs the dry run before it", dry->grade_run, r->grade_run);
    check(!strcmp(re.eff[cust_x][D_ABC], "A") && strcmp(re.e[cust_x].g[D_ABC], "A") != 0,
          "R4: model: X should be A by the override only");
    int won = 0;
    for (int i = 0; i < ncs; i++)
        won += re.e[i].graded && !strcmp(re.e[i].g[D_LIFE], "won_back");
    check(won > 0, "R4: model: nobody is won back at D2 (a customer silent at D1 bought again): fix the generator");
    compare_customers("R4", &re, id, 1);
    kehu_response_free(dry);
    kehu_response_free(r);
    run_free(&re);
    phase_end("overrides, dry run and R4 as of 2025-07-15");
}

/* The branch manager approves the pending raise; the admin's override expires. */
static void test_approval_and_expiry(void **state)
{
    (void)state;
    assert_non_null(st);
    phase_begin();
    struct kehu_status s;
    Kehu__V1__Response *r = approve(org.li, ovr_y_id, &s);
    check(s.code != C(OK), "approve: li.lei approved his own raise to A");
    kehu_response_free(r);
    r = approve(org.bj, ovr_y_id, &s);
    check(s.code != C(OK), "approve: bj.am (北京分行) approved a raise in 上海分行");
    kehu_response_free(r);
    compare_customers("refused approvals", NULL, 0, 0); /* Y unchanged */

    r = approve(org.mgr, ovr_y_id, &s);
    check(s.code == C(OK), "approve by wang.fang: %s %s", kehu_code_name(s.code), s.message);
    if (s.code == C(OK) && r->override)
        check(!strcmp(r->override->status, "active") && !strcmp(r->override->approved_by, "wang.fang"),
              "approve by wang.fang: status %s approved_by %s", r->override->status, r->override->approved_by);
    kehu_response_free(r);
    ovrs[1].active = 1;
    compare_customers("approved", NULL, 0, 0); /* Y is A at once */
    check_customer_get("approved", 1000000, cust_y);

    /* X's override's until (it had to lie ahead when given) moved to 2025-07-31
     * in the database, as it_session ages sessions; the table is the one with
     * columns until, dimension and reason */
    PGconn *pg = it_pg_open();
    PGresult *t = PQexec(pg, "SELECT c.table_name FROM information_schema.columns c"
                             " WHERE c.table_schema = 'public' AND c.column_name = 'until'"
                             " AND EXISTS (SELECT 1 FROM information_schema.columns d WHERE d.table_schema = 'public'"
                             "             AND d.table_name = c.table_name AND d.column_name = 'dimension')"
                             " AND EXISTS (SELECT 1 FROM information_schema.columns d WHERE d.table_schema = 'public'"
                             "             AND d.table_name = c.table_name AND d.column_name = 'reason')");
    if (PQresultStatus(t) != PGRES_TUPLES_OK || PQntuples(t) != 1) {
        PQclear(t);
        PQfinish(pg);
        fail_msg("expiry: no single table with columns until, dimension and reason holds the overrides");
    }
    char sql[300];
    snprintf(sql, sizeof sql, "UPDATE \"%s\" SET until = '2025-07-31' WHERE id = %lld", PQgetvalue(t, 0, 0),
             (long long)ovr_x_id);
    PQclear(t);
    PGresult *u = PQexec(pg, sql);
    check(PQresultStatus(u) == PGRES_COMMAND_OK && !strcmp(PQcmdTuples(u), "1"), "expiry: %s: %s", sql,
          PQerrorMessage(pg));
    PQclear(u);
    PQfinish(pg);
    ovrs[0].until = DAY(2025, 7, 31);

    /* R5 as of D3, after it: X back to the rules, Y A */
    struct run_exp re;
    int64_t id;
    r = do_run(&re, "R5", 0, D3, &id);
    keep_grades();
    check(strcmp(re.eff[cust_x][D_ABC], "A") != 0 && !strcmp(re.eff[cust_y][D_ABC], "A") &&
              strcmp(re.e[cust_y].g[D_ABC], "A") != 0,
          "R5: model: X should have lost A, Y be A by the override");
    compare_customers("R5", &re, id, 1);
    kehu_response_free(r);
    run_free(&re);
    phase_end("approval, expiry and R5 as of 2025-08-15");
}

/* R6: a lifecycle run moves the lifecycle only. */
static void test_lifecycle_run(void **state)
{
    (void)state;
    assert_non_null(st);
    phase_begin();
    struct run_exp re;
    int64_t id;
    Kehu__V1__Response *r = do_run(&re, "R6", 1, D4, &id);
    keep_grades();
    compare_customers("R6", &re, id, 0);
    kehu_response_free(r);
    run_free(&re);
    phase_end("R6 lifecycle as of 2025-10-15");
}

/* R7: ranking within each branch. */
static void test_scope_branch(void **state)
{
    (void)state;
    assert_non_null(st);
    phase_begin();
    policy_set("abc.scope", "branch");
    pol.scope_branch = 1;
    struct run_exp re;
    int64_t id;
    Kehu__V1__Response *r = do_run(&re, "R7", 0, D4, &id);
    keep_grades();
    compare_customers("R7", &re, id, 1);
    kehu_response_free(r);
    run_free(&re);
    phase_end("R7 abc.scope=branch as of 2025-10-15");
}

/* R8: margin as the metric; the report and its migration R7 -> R8. */
static void test_metric_margin(void **state)
{
    (void)state;
    assert_non_null(st);
    phase_begin();
    policy_set("abc.metric", "margin");
    pol.metric_margin = 1;
    struct run_exp re;
    int64_t id;
    Kehu__V1__Response *r = do_run(&re, "R8", 0, D4, &id);
    keep_grades();
    compare_customers("R8", &re, id, 1);
    check_report("R8", id, D4, run_ids[nruns - 2], eff_at[nruns - 2], 0);
    kehu_response_free(r);
    run_free(&re);
    phase_end("R8 abc.metric=margin as of 2025-10-15");
}

/* R9: a later date; the customer whose relationship began after D4 joins. */
static void test_later_run(void **state)
{
    (void)state;
    assert_non_null(st);
    phase_begin();
    struct run_exp re;
    int64_t id;
    Kehu__V1__Response *r = do_run(&re, "R9", 0, D5, &id);
    keep_grades();
    int joined = 0;
    for (int i = 0; i < ncs; i++)
        joined += re.e[i].graded && re.before[i][D_ABC][0] == 0;
    check(joined > 0, "R9: model: nobody joins (fix the generator)");
    compare_customers("R9", &re, id, 1);
    check_list("R9", "lifecycle=churned", D_LIFE, "churned");
    kehu_response_free(r);
    run_free(&re);
    phase_end("R9 full as of 2025-11-30");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_dry_run_first),
        cmocka_unit_test(test_first_run),
        cmocka_unit_test(test_threshold_abc_share),
        cmocka_unit_test(test_threshold_volume),
        cmocka_unit_test(test_overrides_and_dry_run),
        cmocka_unit_test(test_approval_and_expiry),
        cmocka_unit_test(test_lifecycle_run),
        cmocka_unit_test(test_scope_branch),
        cmocka_unit_test(test_metric_margin),
        cmocka_unit_test(test_later_run),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
