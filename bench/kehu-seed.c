/* kehu-seed: realistic, reproducible customer data for tests and benchmarks.
 *
 *   kehu-seed --db CONNINFO --customers N [options]   load into PostgreSQL
 *   kehu-seed --csv DIR --customers N [options]       write DIR/customers.csv
 *                                                     and DIR/txns.csv
 * Options:
 *   --txns-per-customer M       mean transactions per customer (default 10);
 *                               the count varies with a long tail
 *   --followups-per-customer F  mean follow-ups per customer (default 1; --db,
 *                               into the table followup when it exists)
 *                               (--db also loads sales on credit, payments
 *                               and asset snapshots: see below)
 *   --seed S                    default 1; the same seed (and --as-of) gives
 *                               the same data, byte for byte in CSV
 *   --as-of DATE                the "today" of the data (default: today, UTC)
 *   --since-years Y             transactions over the last Y years (default 5)
 *   --branch UNIT               --db: the branch, by name or id (default: the
 *                               first branch). A city in its name (上海分行)
 *                               draws 60% of the customers there; with --csv
 *                               give the name to get the same data as --db
 *   --owners USER,USER,...      owners, round-robin (--db default: every
 *                               account manager of the branch; none: NULL)
 *   --batch K                   --db: customers per transaction (default 50000)
 *   --gbk                       --csv: customers.csv in GB18030 with Chinese
 *                               headers, as Excel on Chinese Windows saves it
 *
 * What is generated. Customer n (1..N) has ext_ref SEED-<seed>-<n>; 75% are
 * individuals (mostly Chinese names from weighted surnames, ~10% English
 * names), 25% companies (城市 + 字号 + 行业 + 有限公司). Mobile numbers are
 * unique (an affine bijection of the customer number; seeds that differ
 * modulo 64 never share one), landlines unique within a seed; resident ID
 * numbers carry the GB 11643 check digit and agree with birth date and
 * gender, companies carry a unified social credit code (GB 32100); company
 * names and (name, employer) pairs are unique, so an import finds no
 * probable duplicates among the rows. A customer's value follows a Pareto law
 * (alpha 1, capped), and both its number of transactions and their size grow
 * with it, so revenue is long-tailed: the top 5% hold about half of it. Dates
 * have seasons: a rush in the three weeks before Spring Festival, a lull in
 * its week, year end, 6.18 and Double 11. About 3% of transactions are
 * refunds (negative) of an earlier purchase, 70% carry a margin. Amounts are
 * integer fen throughout and printed as decimals; floating point only shapes
 * the distributions.
 *
 * Credit and assets (--db only). Two companies in five buy on credit
 * (the larger, the likelier): most of their sales are due after their terms
 * (30 to 90 days, some at the end of that month), and they pay each one
 * around its due date — most on time, some late, large ones now and then
 * in two instalments — by transfer, acceptance bill, cheque or at the
 * counter; 8% stopped paying some days to two years ago. A payment that
 * would fall after --as-of is not made yet, so balances are overdue today
 * by every number of days the credit grades tell apart (AAA .. C).
 * customer.balance is what the customer owes, credit sales minus payments,
 * as TxnAdd and PaymentAdd keep it. Most individuals and a fifth of the
 * companies hold assets (deposit, wealth, fund, insurance), reported at the
 * quarter ends of the last year; AUM grows with the customer's worth, so
 * the asset tiers are long-tailed (of the holders about 37% general, 9%
 * wealth, 3% vip). The import CSV has no payments or snapshots (kehud
 * imports neither), so --csv leaves credit and assets out altogether rather
 * than writing sales on credit that nobody ever pays. Every individual has
 * a birth date, so `kehu care today` finds birthdays of the owners' A and B
 * customers once a grading run has graded them.
 *
 * Every random draw of customer n comes from its own streams (one for its
 * fields, one for its transactions, one for its follow-ups, one for its
 * credit and payments, one for its assets) seeded from (seed, n), so
 * changing --txns-per-customer leaves the customers' fields as they were,
 * and credit and assets leave the customers and transactions of a seed as
 * they were before them (only on_credit, due and balance are new). The
 * uniqueness checks are the exception: they depend on the customers before
 * n, so the same seed must be generated from 1 on.
 *
 * Every value goes through kehud's own field rules (customer_field_set, as
 * CustomerAdd and the importer use them), so CSV rows import without a
 * rejection, and --db rows hold what kehud would have stored. Importing the
 * CSV of a seed (with --branch naming the branch) gives the same customers,
 * search keys and revenue as loading it with --db. --gbk also writes values
 * the way a Chinese spreadsheet does (男/女, 个人/企业, 转介绍 ..., lists
 * split by ';', dates as 2024/1/5), which the importer reads back the same.
 *
 * Loading (--db). Customer ids are taken from customer's sequence first;
 * then one transaction per batch, made of chunks of CHUNK customers: COPY
 * customer, change_log ("created", as kehud's trigger logs it), txn,
 * followup, payment and asset_snapshot. sort_key, search_text and
 * search_tokens come from customer_keys, the function CustomerAdd and the
 * importer call; revenue is the exact sum of the customer's transactions,
 * summed in fen here and written with the row (an UPDATE afterwards would
 * rewrite every row and all its index entries, GIN included, a second time),
 * and so is balance; last_contact_at is its last follow-up done. No trigger
 * keeps an aggregate (those on txn, payment and asset_snapshot only
 * announce, skipped under kehu.bulk), so the rows are the same with triggers
 * on or off. The main thread generates the next chunk (it alone calls ICU,
 * which is not thread-safe) while a sender thread runs the COPYs (it alone
 * uses the connection). When the role may set session_replication_role =
 * replica (a superuser), triggers and foreign-key checks are off for the
 * load and kehu-seed writes the change_log rows itself; otherwise the
 * triggers run for every row (slower). Either way nothing is announced
 * (kehu.bulk = on, as kehud's imports do): a kehud running meanwhile does
 * not hear of the load. Blocking libpq: this is an offline tool, not part of
 * kehud. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <iconv.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unicode/uclean.h>

#include "csv.h"
#include "customer_fields.h"
#include "migrate.h"
#include "search_keys.h"
#include "util.h"

#define MAX_CUSTOMERS (1 << 25)  /* the phone bijection's room per seed */
#define WRITE_FLUSH (256 * 1024) /* CSV bytes written at once */
#define CHUNK 5000               /* customers per COPY statement */

static const char *prog = "kehu-seed";

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- randomness
 * xoshiro256** seeded through splitmix64 (Blackman and Vigna). */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The stream of customer n for one purpose. */
static void rng_init(struct rng *r, uint64_t seed, uint64_t n, uint64_t stream)
{
    uint64_t x = seed;
    x = splitmix64(&x) ^ n;
    x = splitmix64(&x) ^ stream;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* 0 <= x < n (Lemire's multiply-shift; the bias is below 2^-32 here). */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static int rng_range(struct rng *r, int lo, int hi) /* inclusive */
{
    return lo + (int)rng_below(r, (uint64_t)(hi - lo + 1));
}

static double rng_unit(struct rng *r) /* [0, 1) */
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static int rng_permille(struct rng *r, unsigned p)
{
    return rng_below(r, 1000) < p;
}

/* ---------------------------------------------------------------- weighted tables */

struct item {
    const char *s;   /* the value */
    const char *py;  /* pinyin, an area code, an ID region code ... */
    unsigned w;      /* weight */
};

struct table {
    const struct item *items;
    size_t n;
    uint32_t *cum;
};

#define TABLE(name, ...)                                            \
    static const struct item name##_items[] = { __VA_ARGS__ };      \
    static struct table name = { name##_items, sizeof name##_items / sizeof name##_items[0], NULL }

static void table_init(struct table *t)
{
    t->cum = xmalloc(t->n * sizeof *t->cum);
    uint32_t sum = 0;
    for (size_t i = 0; i < t->n; i++)
        t->cum[i] = sum += t->items[i].w ? t->items[i].w : 1;
}

static const struct item *pick(struct rng *r, const struct table *t)
{
    uint32_t u = (uint32_t)rng_below(r, t->cum[t->n - 1]);
    size_t lo = 0, hi = t->n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return &t->items[lo];
}

/* Surnames, weighted by frequency (per ten thousand people, roughly). */
TABLE(surnames,
      { "王", "wang", 710 }, { "李", "li", 700 }, { "张", "zhang", 670 }, { "刘", "liu", 540 },
      { "陈", "chen", 450 }, { "杨", "yang", 310 }, { "黄", "huang", 220 }, { "赵", "zhao", 210 },
      { "吴", "wu", 200 }, { "周", "zhou", 190 }, { "徐", "xu", 150 }, { "孙", "sun", 150 },
      { "马", "ma", 130 }, { "朱", "zhu", 130 }, { "胡", "hu", 120 }, { "郭", "guo", 120 },
      { "何", "he", 120 }, { "高", "gao", 110 }, { "林", "lin", 110 }, { "罗", "luo", 90 },
      { "郑", "zheng", 90 }, { "梁", "liang", 90 }, { "谢", "xie", 80 }, { "宋", "song", 80 },
      { "唐", "tang", 80 }, { "许", "xu", 70 }, { "韩", "han", 70 }, { "冯", "feng", 70 },
      { "邓", "deng", 70 }, { "曹", "cao", 60 }, { "彭", "peng", 60 }, { "曾", "zeng", 60 },
      { "肖", "xiao", 60 }, { "田", "tian", 60 }, { "董", "dong", 50 }, { "袁", "yuan", 50 },
      { "潘", "pan", 50 }, { "于", "yu", 50 }, { "蒋", "jiang", 50 }, { "蔡", "cai", 50 },
      { "余", "yu", 50 }, { "杜", "du", 50 }, { "叶", "ye", 50 }, { "程", "cheng", 50 },
      { "苏", "su", 40 }, { "魏", "wei", 40 }, { "吕", "lv", 40 }, { "丁", "ding", 40 },
      { "任", "ren", 40 }, { "沈", "shen", 40 }, { "姚", "yao", 40 }, { "卢", "lu", 40 },
      { "姜", "jiang", 40 }, { "崔", "cui", 30 }, { "钟", "zhong", 30 }, { "谭", "tan", 30 },
      { "陆", "lu", 30 }, { "汪", "wang", 30 }, { "范", "fan", 30 }, { "金", "jin", 30 },
      { "石", "shi", 30 }, { "廖", "liao", 30 }, { "贾", "jia", 30 }, { "夏", "xia", 30 },
      { "韦", "wei", 30 }, { "付", "fu", 30 }, { "方", "fang", 30 }, { "白", "bai", 30 },
      { "邹", "zou", 30 }, { "孟", "meng", 30 }, { "熊", "xiong", 30 }, { "秦", "qin", 30 },
      { "邱", "qiu", 30 }, { "江", "jiang", 30 }, { "尹", "yin", 30 }, { "薛", "xue", 20 },
      { "闫", "yan", 20 }, { "段", "duan", 20 }, { "雷", "lei", 20 }, { "侯", "hou", 20 },
      { "龙", "long", 20 }, { "史", "shi", 20 }, { "陶", "tao", 20 }, { "黎", "li", 20 },
      { "贺", "he", 20 }, { "顾", "gu", 20 }, { "毛", "mao", 20 }, { "郝", "hao", 20 },
      { "龚", "gong", 20 }, { "邵", "shao", 20 }, { "万", "wan", 20 }, { "钱", "qian", 20 },
      { "严", "yan", 20 }, { "覃", "qin", 20 }, { "武", "wu", 20 }, { "戴", "dai", 20 },
      { "莫", "mo", 20 }, { "孔", "kong", 20 }, { "向", "xiang", 20 }, { "汤", "tang", 20 },
      { "欧阳", "ouyang", 6 }, { "司马", "sima", 2 }, { "上官", "shangguan", 2 }, { "诸葛", "zhuge", 1 });

TABLE(given_male,
      { "伟", "wei", 30 }, { "强", "qiang", 20 }, { "磊", "lei", 20 }, { "军", "jun", 20 }, { "勇", "yong", 15 },
      { "杰", "jie", 20 }, { "涛", "tao", 15 }, { "明", "ming", 20 }, { "超", "chao", 15 }, { "刚", "gang", 12 },
      { "平", "ping", 12 }, { "辉", "hui", 15 }, { "鹏", "peng", 15 }, { "华", "hua", 15 }, { "飞", "fei", 12 },
      { "鑫", "xin", 10 }, { "波", "bo", 12 }, { "斌", "bin", 12 }, { "宇", "yu", 15 }, { "浩", "hao", 15 },
      { "凯", "kai", 12 }, { "健", "jian", 12 }, { "俊", "jun", 12 }, { "帆", "fan", 8 }, { "帅", "shuai", 8 },
      { "旭", "xu", 10 }, { "宁", "ning", 8 }, { "龙", "long", 10 }, { "林", "lin", 8 }, { "阳", "yang", 10 },
      { "建", "jian", 12 }, { "国", "guo", 12 }, { "志", "zhi", 12 }, { "博", "bo", 10 }, { "晨", "chen", 8 },
      { "轩", "xuan", 8 }, { "睿", "rui", 8 }, { "泽", "ze", 8 }, { "峰", "feng", 10 }, { "亮", "liang", 10 },
      { "成", "cheng", 10 }, { "东", "dong", 10 }, { "海", "hai", 10 }, { "斌", "bin", 5 }, { "毅", "yi", 8 });

TABLE(given_female,
      { "芳", "fang", 25 }, { "娜", "na", 20 }, { "敏", "min", 20 }, { "静", "jing", 20 }, { "丽", "li", 20 },
      { "艳", "yan", 15 }, { "娟", "juan", 15 }, { "霞", "xia", 12 }, { "秀", "xiu", 10 }, { "玲", "ling", 15 },
      { "桂", "gui", 6 }, { "英", "ying", 12 }, { "慧", "hui", 12 }, { "婷", "ting", 15 }, { "雪", "xue", 12 },
      { "琳", "lin", 12 }, { "晶", "jing", 10 }, { "洁", "jie", 12 }, { "燕", "yan", 12 }, { "红", "hong", 12 },
      { "梅", "mei", 10 }, { "莉", "li", 10 }, { "倩", "qian", 10 }, { "颖", "ying", 10 }, { "萍", "ping", 10 },
      { "欣", "xin", 12 }, { "怡", "yi", 10 }, { "佳", "jia", 10 }, { "雯", "wen", 10 }, { "璐", "lu", 6 },
      { "琪", "qi", 8 }, { "悦", "yue", 8 }, { "彤", "tong", 8 }, { "蕾", "lei", 6 }, { "薇", "wei", 8 },
      { "嘉", "jia", 6 }, { "梦", "meng", 8 }, { "瑶", "yao", 8 }, { "思", "si", 8 }, { "涵", "han", 8 },
      { "萱", "xuan", 6 }, { "婧", "jing", 5 }, { "露", "lu", 5 });

TABLE(given_neutral,
      { "小", "xiao", 15 }, { "子", "zi", 10 }, { "一", "yi", 8 }, { "文", "wen", 12 }, { "春", "chun", 8 },
      { "晓", "xiao", 12 }, { "雨", "yu", 10 }, { "天", "tian", 8 }, { "金", "jin", 6 }, { "永", "yong", 8 },
      { "德", "de", 6 }, { "玉", "yu", 8 }, { "云", "yun", 8 }, { "新", "xin", 6 }, { "立", "li", 6 },
      { "家", "jia", 6 }, { "清", "qing", 6 }, { "安", "an", 6 }, { "秋", "qiu", 5 }, { "世", "shi", 4 });

/* English given names: py says the gender. */
TABLE(english_first,
      { "James", "m", 10 }, { "John", "m", 10 }, { "Michael", "m", 10 }, { "David", "m", 10 },
      { "Robert", "m", 8 }, { "William", "m", 8 }, { "Daniel", "m", 8 }, { "Thomas", "m", 6 },
      { "Peter", "m", 6 }, { "Kevin", "m", 6 }, { "Mark", "m", 5 }, { "Paul", "m", 5 }, { "Eric", "m", 5 },
      { "Mary", "f", 10 }, { "Linda", "f", 8 }, { "Sarah", "f", 8 }, { "Emma", "f", 8 }, { "Olivia", "f", 6 },
      { "Sophia", "f", 6 }, { "Emily", "f", 8 }, { "Jessica", "f", 6 }, { "Anna", "f", 6 }, { "Grace", "f", 5 },
      { "Laura", "f", 5 }, { "Helen", "f", 5 }, { "Claire", "f", 4 });

TABLE(english_last,
      { "Smith", "", 10 }, { "Johnson", "", 8 }, { "Brown", "", 8 }, { "Williams", "", 8 }, { "Jones", "", 8 },
      { "Miller", "", 6 }, { "Davis", "", 6 }, { "Wilson", "", 6 }, { "Taylor", "", 6 }, { "Anderson", "", 5 },
      { "Moore", "", 5 }, { "Martin", "", 5 }, { "Clark", "", 5 }, { "Lee", "", 5 }, { "Walker", "", 4 },
      { "Hall", "", 4 }, { "Young", "", 4 }, { "King", "", 4 }, { "Wright", "", 4 }, { "Green", "", 4 },
      { "Baker", "", 4 }, { "Müller", "", 2 }, { "O'Brien", "", 2 });

/* Cities: py is "<area code> <ID region code of a central district>". */
TABLE(cities,
      { "上海", "021 310115", 90 }, { "北京", "010 110105", 90 }, { "广州", "020 440106", 60 },
      { "深圳", "0755 440305", 60 }, { "杭州", "0571 330106", 45 }, { "南京", "025 320102", 40 },
      { "苏州", "0512 320505", 40 }, { "成都", "028 510107", 45 }, { "武汉", "027 420106", 40 },
      { "重庆", "023 500103", 45 }, { "西安", "029 610113", 35 }, { "天津", "022 120101", 35 },
      { "青岛", "0532 370202", 25 }, { "长沙", "0731 430104", 25 }, { "郑州", "0371 410105", 25 },
      { "厦门", "0592 350203", 15 }, { "宁波", "0574 330203", 20 }, { "无锡", "0510 320211", 20 },
      { "合肥", "0551 340104", 20 }, { "济南", "0531 370102", 20 }, { "福州", "0591 350102", 18 },
      { "沈阳", "024 210102", 18 }, { "大连", "0411 210202", 15 }, { "哈尔滨", "0451 230103", 15 },
      { "长春", "0431 220102", 12 }, { "石家庄", "0311 130102", 12 }, { "太原", "0351 140105", 10 },
      { "南昌", "0791 360102", 10 }, { "昆明", "0871 530102", 12 }, { "贵阳", "0851 520102", 8 },
      { "南宁", "0771 450103", 8 }, { "兰州", "0931 620102", 6 }, { "东莞", "0769 441900", 20 },
      { "佛山", "0757 440604", 18 });

TABLE(roads,
      { "人民路", "", 10 }, { "解放路", "", 8 }, { "中山路", "", 10 }, { "建设路", "", 8 }, { "和平路", "", 6 },
      { "长江路", "", 5 }, { "黄河路", "", 4 }, { "新华路", "", 6 }, { "文化路", "", 5 }, { "胜利路", "", 4 },
      { "青年路", "", 4 }, { "光明路", "", 4 }, { "朝阳路", "", 5 }, { "东风路", "", 4 }, { "迎宾大道", "", 3 },
      { "滨江大道", "", 3 }, { "世纪大道", "", 4 }, { "学府路", "", 4 }, { "科技路", "", 4 }, { "工业园路", "", 3 });

TABLE(buildings,
      { "国际大厦", "", 10 }, { "金融中心", "", 8 }, { "科技园", "", 8 }, { "商务广场", "", 8 }, { "创业大厦", "", 5 },
      { "中心大厦", "", 6 }, { "财富广场", "", 5 }, { "产业园", "", 6 });

/* Trade-name characters of companies. */
TABLE(brand_chars,
      { "恒", "heng", 10 }, { "信", "xin", 10 }, { "华", "hua", 10 }, { "泰", "tai", 8 }, { "盛", "sheng", 8 },
      { "达", "da", 8 }, { "鑫", "xin", 8 }, { "源", "yuan", 8 }, { "瑞", "rui", 8 }, { "丰", "feng", 8 },
      { "宏", "hong", 8 }, { "远", "yuan", 6 }, { "金", "jin", 8 }, { "通", "tong", 8 }, { "德", "de", 6 },
      { "隆", "long", 6 }, { "安", "an", 6 }, { "嘉", "jia", 6 }, { "永", "yong", 6 }, { "新", "xin", 8 },
      { "天", "tian", 6 }, { "海", "hai", 6 }, { "中", "zhong", 6 }, { "博", "bo", 6 }, { "联", "lian", 6 },
      { "创", "chuang", 6 }, { "智", "zhi", 6 }, { "荣", "rong", 6 }, { "佳", "jia", 6 }, { "汇", "hui", 6 },
      { "银", "yin", 4 }, { "星", "xing", 6 }, { "辰", "chen", 4 }, { "和", "he", 6 }, { "美", "mei", 6 },
      { "正", "zheng", 6 }, { "祥", "xiang", 6 }, { "凯", "kai", 6 }, { "明", "ming", 6 }, { "光", "guang", 6 },
      { "亿", "yi", 6 }, { "万", "wan", 6 }, { "鼎", "ding", 6 }, { "晟", "sheng", 4 }, { "昊", "hao", 4 },
      { "腾", "teng", 6 }, { "卓", "zhuo", 4 }, { "越", "yue", 4 }, { "锦", "jin", 4 }, { "润", "run", 4 });

/* The line of business in a company name: py is the industry it belongs to. */
TABLE(trades,
      { "贸易", "批发零售", 14 }, { "商贸", "批发零售", 8 }, { "科技", "信息技术", 14 }, { "网络科技", "信息技术", 8 },
      { "信息技术", "信息技术", 6 }, { "软件", "信息技术", 4 }, { "电子", "制造业", 6 }, { "机械", "制造业", 6 },
      { "实业", "制造业", 8 }, { "化工", "制造业", 3 }, { "新材料", "制造业", 3 }, { "食品", "制造业", 4 },
      { "服装", "制造业", 4 }, { "建设工程", "建筑业", 5 }, { "建筑装饰", "建筑业", 4 }, { "物流", "交通物流", 6 },
      { "供应链管理", "交通物流", 4 }, { "餐饮管理", "住宿餐饮", 4 }, { "酒店管理", "住宿餐饮", 2 },
      { "医疗器械", "医疗健康", 4 }, { "医药", "医疗健康", 3 }, { "生物科技", "医疗健康", 3 },
      { "文化传媒", "文化传媒", 5 }, { "广告", "文化传媒", 3 }, { "教育科技", "教育", 3 },
      { "投资管理", "金融", 3 }, { "房地产开发", "房地产", 2 }, { "物业管理", "房地产", 3 },
      { "农业发展", "农林牧渔", 3 }, { "环保科技", "环保能源", 3 }, { "新能源", "环保能源", 3 });

TABLE(company_forms, { "有限公司", "", 80 }, { "股份有限公司", "", 12 }, { "有限责任公司", "", 8 });

TABLE(company_sizes, { "微型", "", 30 }, { "小型", "", 40 }, { "中型", "", 20 }, { "大型", "", 10 });

TABLE(occupations,
      { "企业职员", "", 25 }, { "教师", "", 8 }, { "医生", "", 5 }, { "工程师", "", 10 }, { "会计", "", 6 },
      { "公务员", "", 6 }, { "销售", "", 8 }, { "个体经营", "", 10 }, { "律师", "", 2 }, { "设计师", "", 4 },
      { "程序员", "", 6 }, { "护士", "", 4 }, { "退休", "", 8 }, { "自由职业", "", 5 }, { "企业管理", "", 6 });

TABLE(sources_individual,
      { "referral", "", 25 }, { "walk_in", "", 25 }, { "search_engine", "", 20 }, { "purchased_list", "", 8 },
      { "b2b_platform", "", 2 }, { "trade_show", "", 5 }, { "other", "", 15 });
TABLE(sources_corporate,
      { "referral", "", 20 }, { "walk_in", "", 5 }, { "search_engine", "", 15 }, { "purchased_list", "", 10 },
      { "b2b_platform", "", 25 }, { "trade_show", "", 20 }, { "other", "", 5 });

TABLE(tags_extra,
      { "高潜力", "", 10 }, { "价格敏感", "", 10 }, { "需回访", "", 12 }, { "转介绍", "", 6 }, { "代发工资", "", 5 },
      { "理财偏好", "", 6 }, { "企业主", "", 5 }, { "投诉过", "", 3 }, { "节日关怀", "", 5 }, { "线上活跃", "", 6 });

TABLE(mail_personal,
      { "qq.com", "", 35 }, { "163.com", "", 25 }, { "126.com", "", 10 }, { "sina.com", "", 5 },
      { "foxmail.com", "", 5 }, { "hotmail.com", "", 5 }, { "outlook.com", "", 5 }, { "gmail.com", "", 5 });
TABLE(mail_boxes, { "info", "", 10 }, { "sales", "", 8 }, { "service", "", 5 }, { "contact", "", 5 }, { "hr", "", 2 });
TABLE(mail_tlds, { ".com", "", 50 }, { ".com.cn", "", 30 }, { ".cn", "", 20 });

/* Products: py is the category. */
TABLE(products,
      { "笔记本电脑", "电子产品", 12 }, { "台式电脑", "电子产品", 6 }, { "显示器", "电子产品", 8 },
      { "平板电脑", "电子产品", 6 }, { "智能手机", "电子产品", 10 }, { "激光打印机", "办公设备", 6 },
      { "复印机", "办公设备", 3 }, { "投影仪", "办公设备", 3 }, { "复印纸", "办公用品", 12 },
      { "墨盒", "办公用品", 10 }, { "文具套装", "办公用品", 6 }, { "财务软件授权", "软件服务", 4 },
      { "云存储年费", "软件服务", 4 }, { "企业邮箱", "软件服务", 3 }, { "安全软件", "软件服务", 3 },
      { "年度维保", "维保服务", 5 }, { "上门维修", "维保服务", 5 }, { "延保服务", "维保服务", 4 },
      { "空调", "家电", 5 }, { "冰箱", "家电", 4 }, { "洗衣机", "家电", 4 }, { "净水器", "家电", 4 },
      { "技能培训课程", "培训", 3 }, { "管理培训", "培训", 2 });

TABLE(channels,
      { "门店", "", 30 }, { "电话", "", 10 }, { "官网", "", 10 }, { "微信", "", 15 }, { "客户经理", "", 20 },
      { "经销商", "", 8 }, { "电商平台", "", 12 });

/* Mobile prefixes. */
static const char *const mobile_prefixes[] = {
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156",
    "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185", "186", "187", "188", "189",
    "191", "198", "199",
};
#define N_MOBILE_PREFIXES (sizeof mobile_prefixes / sizeof mobile_prefixes[0])

/* Spring Festival (the first day of the lunar year), 2000-2035: month * 100 + day. */
static const int spring_festival[] = {
    205, 124, 212, 201, 122, 209, 129, 218, 207, 126, 214, 203, 123, 210, 131, 219, 208, 128,
    216, 205, 125, 212, 201, 122, 210, 129, 217, 206, 126, 213, 203, 123, 211, 131, 219, 208,
};

static void table_init_all(void)
{
    struct table *all[] = { &surnames, &given_male, &given_female, &given_neutral, &english_first, &english_last,
                            &cities, &roads, &buildings, &brand_chars, &trades, &company_forms, &company_sizes,
                            &occupations, &sources_individual, &sources_corporate, &tags_extra, &mail_personal,
                            &mail_boxes, &mail_tlds, &products, &channels };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        table_init(all[i]);
}

static void table_free_all(void)
{
    struct table *all[] = { &surnames, &given_male, &given_female, &given_neutral, &english_first, &english_last,
                            &cities, &roads, &buildings, &brand_chars, &trades, &company_forms, &company_sizes,
                            &occupations, &sources_individual, &sources_corporate, &tags_extra, &mail_personal,
                            &mail_boxes, &mail_tlds, &products, &channels };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->cum);
}

/* ---------------------------------------------------------------- dates (days since 1970-01-01) */

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

static void fmt_date(char out[11], int days)
{
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    const int v[8] = { y / 1000 % 10, y / 100 % 10, y / 10 % 10, y % 10, m / 10, m % 10, d / 10, d % 10 };
    static const int at[8] = { 0, 1, 2, 3, 5, 6, 8, 9 };
    out[4] = out[7] = '-';
    out[10] = 0;
    for (int i = 0; i < 8; i++)
        out[at[i]] = (char)('0' + v[i]);
}

static int parse_date(const char *s, int *days)
{
    int y, m, d;
    char extra;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || m < 1 || m > 12 || d < 1 ||
        y < 1900 || y > 2100)
        return -1;
    int z = days_from_civil(y, m, d), yy, mm, dd;
    civil_from_days(z, &yy, &mm, &dd);
    if (mm != m || dd != d)
        return -1;
    *days = z;
    return 0;
}

/* The same date `years` earlier (29 February becomes the 28th). */
static int years_before(int days, int years)
{
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    y -= years;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        d = 28;
    return days_from_civil(y, m, d);
}

/* How busy a day is, relative to 100. */
static unsigned day_weight(int days)
{
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    int sf = 205;
    if (y >= 2000 && y < 2000 + (int)(sizeof spring_festival / sizeof spring_festival[0]))
        sf = spring_festival[y - 2000];
    int delta = days - days_from_civil(y, sf / 100, sf % 100);
    unsigned w = 100;
    if (delta >= -21 && delta <= -1)
        w = 230; /* the rush before Spring Festival */
    else if (delta >= 0 && delta <= 6)
        w = 40; /* its holiday week */
    else if (m == 12)
        w = 150; /* year end */
    else if (m == 11 && d >= 9 && d <= 11)
        w = 220; /* Double 11 */
    else if (m == 6 && d >= 16 && d <= 18)
        w = 160; /* 6.18 */
    else if (m == 10 && d <= 7)
        w = 70; /* National Day week */
    int dow = ((days % 7) + 11) % 7; /* 0 = Sunday; 1970-01-01 was a Thursday */
    if (dow == 0 || dow == 6)
        w = w * 4 / 5;
    return w;
}

/* ---------------------------------------------------------------- text buffers */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more + 1 > b->cap) {
        b->cap = (b->len + more + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
}

static void buf_addn(struct buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_add(struct buf *b, const char *s)
{
    buf_addn(b, s, strlen(s));
}

static void buf_addc(struct buf *b, char c)
{
    buf_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = 0;
}

/* Fen as a decimal: -12345 -> "-123.45". Returns the length. */
static int fmt_money(char out[32], int64_t fen)
{
    uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    return snprintf(out, 32, "%s%llu.%02llu", fen < 0 ? "-" : "", (unsigned long long)(a / 100),
                    (unsigned long long)(a % 100));
}

static void buf_money(struct buf *b, int64_t fen)
{
    char tmp[32];
    buf_addn(b, tmp, (size_t)fmt_money(tmp, fen));
}

/* One COPY text-format field: backslash, tab, newline and CR escaped; NULL as \N. */
static void copy_field(struct buf *b, const char *s, int first)
{
    if (!first)
        buf_addc(b, '\t');
    if (!s) {
        buf_addn(b, "\\N", 2);
        return;
    }
    size_t n = strlen(s);
    buf_reserve(b, n * 2);
    char *o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
            *o++ = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
        }
        *o++ = c;
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
}

/* ---------------------------------------------------------------- uniqueness */

/* A set of 64-bit hashes (open addressing); a false "seen" costs one redraw. */
struct hset {
    uint64_t *slot;
    size_t mask, n;
};

static uint64_t hash_str(const char *a, const char *b)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    h = (h ^ 0xff) * 0x100000001b3ULL;
    for (const char *p = b ? b : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    uint64_t x = h;
    return splitmix64(&x) | 1; /* never 0, the empty slot */
}

static void hset_init(struct hset *s, size_t expected)
{
    size_t cap = 1024;
    while (cap < expected * 2)
        cap *= 2;
    s->slot = xcalloc(cap, sizeof *s->slot);
    s->mask = cap - 1;
    s->n = 0;
}

/* 1 when added, 0 when already there. */
static int hset_add(struct hset *s, uint64_t h)
{
    if ((s->n + 1) * 2 > s->mask + 1) { /* grow */
        struct hset bigger;
        hset_init(&bigger, (s->mask + 1));
        for (size_t i = 0; i <= s->mask; i++)
            if (s->slot[i])
                hset_add(&bigger, s->slot[i]);
        free(s->slot);
        *s = bigger;
    }
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        if (s->slot[i] == h)
            return 0;
        if (!s->slot[i]) {
            s->slot[i] = h;
            s->n++;
            return 1;
        }
    }
}

/* ---------------------------------------------------------------- options and context */

struct opts {
    const char *db, *csv_dir, *branch, *owners;
    long customers, batch;
    double txns_per, followups_per;
    uint64_t seed;
    int since_years, as_of, gbk;
};

struct ctx {
    struct opts o;
    const char *home_city;    /* the branch's city, when its name says it */
    int window_lo;            /* the first day transactions may fall on */
    int64_t *cum;             /* cumulative day weights over [window_lo, as_of] */
    int ndays;
    char (*date_text)[11];    /* the dates of that window, formatted */
    struct hset corp_names, pairs, id_numbers;
    char **owner_names;       /* round-robin owners: usernames (CSV) */
    int64_t *owner_ids;       /* and ids (--db) */
    size_t nowners;
};

/* ---------------------------------------------------------------- one customer */

#define MAX_TAGS 4

struct cust {
    long n;
    char ext_ref[48];
    int corporate, english;
    char name[128];
    char company[128];        /* an individual's employer */
    const char *gender;       /* "", "male", "female" */
    int birth;                /* days; INT32_MIN: unknown */
    char id_number[24];
    char phones[2][24];       /* as a person writes them (021-12345678) */
    int nphones;
    char email[96];
    char address[192];
    const char *region, *industry, *size, *occupation, *source;
    const char *tags[MAX_TAGS];
    int ntags;
    int since;                /* days */
    int created_secs;         /* seconds into that day, Beijing time */
    double value;             /* Pareto-distributed worth, 1..2000 */
    int prospect;             /* no transactions yet */
    int active_to;            /* the last day it buys (churned customers stop early) */
    int64_t revenue;          /* fen, the sum of its transactions */
    int64_t balance;          /* fen, what it owes: credit sales minus payments (--db) */
    const char *owner_name;
    int64_t owner_id;
};

#define NO_DATE INT32_MIN
#define VALUE_CAP 2000.0

static void add_tag(struct cust *c, const char *t)
{
    for (int i = 0; i < c->ntags; i++)
        if (strcmp(c->tags[i], t) == 0)
            return;
    if (c->ntags < MAX_TAGS)
        c->tags[c->ntags++] = t;
}

/* GB 11643: the check character of 17 digits. */
static char id_check_char(const char *d17)
{
    static const int weight[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
    int sum = 0;
    for (int i = 0; i < 17; i++)
        sum += (d17[i] - '0') * weight[i];
    return "10X98765432"[sum % 11];
}

/* A unified social credit code (GB 32100): 9 (registered with SAMR), 1
 * (enterprise), the region, a 9-character organisation code (GB 11714, with
 * its own check) and the check character. New codes' organisation part starts
 * with "MA", which also keeps it from looking like a resident ID. */
static void credit_code(struct rng *r, const char *region6, char out[19])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY"; /* 31, no I O S V Z */
    char *p = out;
    *p++ = '9';
    *p++ = '1';
    memcpy(p, region6, 6);
    p += 6;
    char *org = p;
    *p++ = 'M';
    *p++ = 'A';
    for (int i = 0; i < 6; i++)
        *p++ = alphabet[rng_below(r, 31)];
    static const int ow[8] = { 3, 7, 9, 10, 5, 8, 4, 2 };
    int sum = 0;
    for (int i = 0; i < 8; i++) {
        char ch = org[i];
        sum += (ch >= '0' && ch <= '9' ? ch - '0' : ch - 'A' + 10) * ow[i];
    }
    int c9 = 11 - sum % 11;
    *p++ = c9 == 10 ? 'X' : c9 == 11 ? '0' : (char)('0' + c9);
    static const int cw[17] = { 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28 };
    sum = 0;
    for (int i = 0; i < 17; i++)
        sum += (int)(strchr(alphabet, out[i]) - alphabet) * cw[i];
    int c18 = (31 - sum % 31) % 31;
    *p++ = alphabet[c18];
    *p = 0;
}

/* Customer n's mobile number: an affine bijection of (seed mod 64, n) onto
 * prefix x 10^8 numbers, so no two customers of a seed share one. */
static void mobile_number(uint64_t seed, long n, char out[24])
{
    const uint64_t space = (uint64_t)N_MOBILE_PREFIXES * 100000000ULL;
    uint64_t idx = ((seed % 64) << 25) | (uint64_t)n;
    uint64_t x = (uint64_t)(((unsigned __int128)idx * 2654435761ULL + 1234567ULL) % space);
    snprintf(out, 24, "%s%08llu", mobile_prefixes[x / 100000000ULL], (unsigned long long)(x % 100000000ULL));
}

/* A landline: the city's area code and 8 digits, unique within a seed. */
static void landline_number(uint64_t seed, long n, const char *area, char out[24])
{
    uint64_t idx = (uint64_t)n + (seed % 16) * 5000000ULL;
    uint64_t local = 20000000ULL + (uint64_t)(((unsigned __int128)idx * 2654435761ULL + 777ULL) % 80000000ULL);
    snprintf(out, 24, "%s-%08llu", area, (unsigned long long)local);
}

static void city_codes(const struct item *city, char area[8], char region6[8])
{
    sscanf(city->py, "%7s %7s", area, region6);
}

/* A branch named after a city (上海分行) has most of its customers there. */
static void set_home_city(struct ctx *x, const char *branch)
{
    for (size_t i = 0; i < cities.n; i++)
        if (strstr(branch, cities.items[i].s))
            x->home_city = cities.items[i].s;
}

static const struct item *pick_city(struct ctx *x, struct rng *r)
{
    if (x->home_city && rng_permille(r, 600))
        for (size_t i = 0; i < cities.n; i++)
            if (strcmp(cities.items[i].s, x->home_city) == 0)
                return &cities.items[i];
    return pick(r, &cities);
}

/* A company name, with the pinyin of its trade name for e-mail domains. */
static void company_name(struct rng *r, const struct item *city, char *out, size_t outsz, char *py, size_t pysz,
                         const char **industry)
{
    const struct item *a = pick(r, &brand_chars), *b;
    do
        b = pick(r, &brand_chars);
    while (b == a);
    const struct item *trade = pick(r, &trades);
    snprintf(out, outsz, "%s%s%s%s%s", city->s, a->s, b->s, trade->s, pick(r, &company_forms)->s);
    snprintf(py, pysz, "%s%s", a->py, b->py);
    *industry = trade->py;
}

static void gen_customer(struct ctx *x, long n, struct cust *c)
{
    struct rng r;
    rng_init(&r, x->o.seed, (uint64_t)n, 1);
    memset(c, 0, sizeof *c);
    c->n = n;
    snprintf(c->ext_ref, sizeof c->ext_ref, "SEED-%llu-%ld", (unsigned long long)x->o.seed, n);
    c->gender = "";
    c->birth = NO_DATE;
    c->corporate = rng_permille(&r, 250);
    c->english = !c->corporate && rng_permille(&r, 100);

    /* worth: Pareto with alpha 1, capped */
    double u = 1.0 - rng_unit(&r); /* (0, 1] */
    c->value = 1.0 / (u < 1.0 / VALUE_CAP ? 1.0 / VALUE_CAP : u);

    const struct item *city = pick_city(x, &r);
    char area[8], region6[8], py[64];
    city_codes(city, area, region6);
    c->region = city->s;
    int as_of = x->o.as_of;

    if (c->corporate) {
        char tmp[128];
        int tries = 0;
        do {
            company_name(&r, city, tmp, sizeof tmp, py, sizeof py, &c->industry);
            if (++tries > 20) /* crowded: a branch office is a different name */
                snprintf(tmp + strlen(tmp), sizeof tmp - strlen(tmp), "第%d分公司", tries - 20);
        } while (!hset_add(&x->corp_names, hash_str(tmp, NULL)));
        snprintf(c->name, sizeof c->name, "%s", tmp);
        c->size = pick(&r, &company_sizes)->s;
        credit_code(&r, region6, c->id_number);
        if (rng_permille(&r, 550))
            snprintf(c->email, sizeof c->email, "%s@%s%s", pick(&r, &mail_boxes)->s, py, pick(&r, &mail_tlds)->s);
        c->source = pick(&r, &sources_corporate)->s;
        snprintf(c->address, sizeof c->address, "%s市%s%d号%s%d层", city->s, pick(&r, &roads)->s, rng_range(&r, 1, 999),
                 pick(&r, &buildings)->s, rng_range(&r, 1, 38));
        landline_number(x->o.seed, n, area, c->phones[c->nphones++]);
        if (rng_permille(&r, 600))
            mobile_number(x->o.seed, n, c->phones[c->nphones++]);
    } else {
        int male = rng_permille(&r, 500);
        c->gender = male ? "male" : "female";
        if (c->english) {
            const struct item *f;
            do
                f = pick(&r, &english_first);
            while ((f->py[0] == 'm') != male);
            const struct item *l = pick(&r, &english_last);
            snprintf(c->name, sizeof c->name, "%s %s", f->s, l->s);
            if (rng_permille(&r, 450)) {
                snprintf(c->email, sizeof c->email, "%s.%s", f->s, l->s);
                for (char *p = c->email; *p; p++)
                    *p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
                char *q = c->email; /* drop what is not a-z or '.' (Müller, O'Brien) */
                for (char *p = c->email; *p; p++)
                    if ((*p >= 'a' && *p <= 'z') || *p == '.')
                        *q++ = *p;
                *q = 0;
                snprintf(c->email + strlen(c->email), sizeof c->email - strlen(c->email), "%d@%s",
                         rng_range(&r, 1, 99), rng_permille(&r, 500) ? "gmail.com" : "outlook.com");
            }
        } else {
            const struct item *s = pick(&r, &surnames);
            int two = rng_permille(&r, 750); /* a one-character given name is never a neutral one like 小 */
            const struct item *g1 = !two || rng_permille(&r, 700) ? pick(&r, male ? &given_male : &given_female)
                                                                  : pick(&r, &given_neutral);
            const struct item *g2 = two ? pick(&r, male ? &given_male : &given_female) : NULL;
            snprintf(c->name, sizeof c->name, "%s%s%s", s->s, g1->s, g2 ? g2->s : "");
            snprintf(py, sizeof py, "%s%s%s", s->py, g1->py, g2 ? g2->py : "");
            if (rng_permille(&r, 380)) {
                if (rng_permille(&r, 250))
                    snprintf(c->email, sizeof c->email, "%llu@qq.com",
                             (unsigned long long)(10000000 + rng_below(&r, 2990000000ULL)));
                else if (rng_permille(&r, 600))
                    snprintf(c->email, sizeof c->email, "%s%d@%s", py, rng_range(&r, 1, 9999),
                             pick(&r, &mail_personal)->s);
                else
                    snprintf(c->email, sizeof c->email, "%s@%s", py, pick(&r, &mail_personal)->s);
            }
        }
        /* age at as_of: most customers between 30 and 55 */
        static const int age_lo[] = { 20, 30, 40, 50, 60 }, age_hi[] = { 29, 39, 49, 59, 78 };
        static const unsigned age_w[] = { 180, 280, 240, 170, 130 };
        unsigned a = (unsigned)rng_below(&r, 1000), band = 0;
        while (a >= age_w[band]) {
            a -= age_w[band];
            band++;
        }
        int age = rng_range(&r, age_lo[band], age_hi[band]);
        c->birth = years_before(as_of, age) - rng_range(&r, 0, 364);
        if (!c->english && rng_permille(&r, 920)) { /* resident ID: region, birth, sequence, check */
            char born6[8], area_b[8], d17[18], date[11];
            if (rng_permille(&r, 650))
                memcpy(born6, region6, sizeof born6);
            else
                city_codes(pick(&r, &cities), area_b, born6);
            fmt_date(date, c->birth);
            int seq = rng_range(&r, 0, 99) * 10 + rng_range(&r, 0, 4) * 2 + (male ? 1 : 0), tries = 0;
            do {
                if (++tries > 500)
                    die("no resident ID number left for %.6s %s", born6, date);
                snprintf(d17, sizeof d17, "%.6s%.4s%.2s%.2s%03d", born6, date, date + 5, date + 8, seq);
                seq = (seq + 2) % 1000; /* taken: the next number of the same parity */
            } while (!hset_add(&x->id_numbers, hash_str(d17, NULL)));
            snprintf(c->id_number, sizeof c->id_number, "%s%c", d17, id_check_char(d17));
        } else if (c->english && rng_permille(&r, 300)) {
            snprintf(c->id_number, sizeof c->id_number, "P%08llu", (unsigned long long)rng_below(&r, 100000000));
        }
        if (rng_permille(&r, 950))
            mobile_number(x->o.seed, n, c->phones[c->nphones++]);
        if (rng_permille(&r, 100) || c->nphones == 0)
            landline_number(x->o.seed, n, area, c->phones[c->nphones++]);
        if (rng_permille(&r, 350)) { /* an employer; the (name, employer) pair stays unique */
            const struct item *wc = pick_city(x, &r);
            for (int tries = 0; tries < 5; tries++) {
                company_name(&r, wc, c->company, sizeof c->company, py, sizeof py, &c->industry);
                if (hset_add(&x->pairs, hash_str(c->name, c->company)))
                    break;
                c->company[0] = 0;
                c->industry = NULL;
            }
        }
        if (rng_permille(&r, 850))
            c->occupation = pick(&r, &occupations)->s;
        c->source = pick(&r, &sources_individual)->s;
        if (rng_permille(&r, 900)) {
            const struct item *road = pick(&r, &roads);
            if (rng_permille(&r, 500))
                snprintf(c->address, sizeof c->address, "%s市%s%d号%d栋%d单元%d室", city->s, road->s,
                         rng_range(&r, 1, 999), rng_range(&r, 1, 30), rng_range(&r, 1, 6),
                         rng_range(&r, 1, 33) * 100 + rng_range(&r, 1, 4));
            else
                snprintf(c->address, sizeof c->address, "%s市%s%d弄%d号%d室", city->s, road->s,
                         rng_range(&r, 1, 999), rng_range(&r, 1, 80), rng_range(&r, 1, 20) * 100 + rng_range(&r, 1, 4));
        }
    }
    /* customer since: 70% within the window, more of them recently; the rest
     * up to twice as long before it; never before the 18th birthday */
    int window = as_of - x->window_lo;
    if (rng_permille(&r, 700))
        c->since = as_of - (int)((double)window * (1.0 - sqrt(rng_unit(&r))));
    else
        c->since = x->window_lo - (int)rng_below(&r, (uint64_t)window * 2 + 1);
    if (c->birth != NO_DATE && c->since < years_before(c->birth, -18))
        c->since = years_before(c->birth, -18);
    if (c->since > as_of)
        c->since = as_of;
    c->created_secs = rng_range(&r, 8 * 3600 + 30 * 60, 18 * 3600);

    c->prospect = rng_permille(&r, 80);
    int lo = c->since > x->window_lo ? c->since : x->window_lo;
    c->active_to = as_of;
    if (!c->prospect && rng_permille(&r, 200)) /* churned: stopped buying some time ago */
        c->active_to = lo + (int)rng_below(&r, (uint64_t)(as_of - lo) + 1);

    if (c->value >= 60)
        add_tag(c, "VIP");
    if (as_of - c->since > 3 * 365)
        add_tag(c, "老客户");
    else if (as_of - c->since < 180)
        add_tag(c, "新客户");
    for (int k = rng_range(&r, 0, 2); k > 0; k--)
        add_tag(c, pick(&r, &tags_extra)->s);
    if (x->nowners) {
        size_t i = (size_t)(n - 1) % x->nowners;
        c->owner_name = x->owner_names[i];
        c->owner_id = x->owner_ids ? x->owner_ids[i] : 0;
    }
}

/* The customer as kehud's own field rules see it: every value checked and
 * normalised by customer_field_set, as CustomerAdd and the importer do (phones
 * keep their digits, the ID's x is upper case ...). A value they refuse is a
 * bug here. */
static void values_of(struct arena *a, const struct cust *c, struct cvalues *v)
{
    char birth[11] = "", since[11], phones[64], tags[256] = "";
    if (c->birth != NO_DATE)
        fmt_date(birth, c->birth);
    fmt_date(since, c->since);
    snprintf(phones, sizeof phones, "%s%s%s", c->phones[0], c->nphones > 1 ? "," : "",
             c->nphones > 1 ? c->phones[1] : "");
    for (int i = 0; i < c->ntags; i++)
        snprintf(tags + strlen(tags), sizeof tags - strlen(tags), "%s%s", i ? "," : "", c->tags[i]);
    const char *in[CF_COUNT] = {
        [FI_NAME] = c->name, [FI_KIND] = c->corporate ? "corporate" : "individual", [FI_EXT_REF] = c->ext_ref,
        [FI_GENDER] = c->gender, [FI_BIRTH] = birth, [FI_ID_NUMBER] = c->id_number, [FI_PHONES] = phones,
        [FI_EMAIL] = c->email, [FI_COMPANY] = c->company, [FI_ADDRESS] = c->address, [FI_REGION] = c->region,
        [FI_INDUSTRY] = c->industry, [FI_SIZE] = c->size, [FI_OCCUPATION] = c->occupation, [FI_SOURCE] = c->source,
        [FI_TAGS] = tags, [FI_SINCE] = since,
    };
    memset(v, 0, sizeof *v);
    for (int i = 0; i < CF_COUNT; i++) {
        const char *why = customer_field_set(a, v, i, in[i] ? in[i] : "");
        if (why)
            die("customer %s: %s %s (a bug in kehu-seed)", c->ext_ref, customer_fields[i].name, why);
    }
}

/* ---------------------------------------------------------------- transactions */

struct txn {
    int date;
    int secs;
    int64_t amount;       /* fen; negative for a refund */
    int64_t margin;
    int has_margin;
    const struct item *product;
    const char *channel;
    int on_credit, due;   /* a sale on credit and its due date (gen_credit) */
};

struct txnvec {
    struct txn *v;
    size_t n, cap;
};

/* A day in [lo, hi] (window indices), busy days more likely. */
static int pick_day(struct ctx *x, struct rng *r, int lo, int hi)
{
    int64_t base = x->cum[lo], span = x->cum[hi + 1] - base;
    int64_t u = base + (int64_t)rng_below(r, (uint64_t)span);
    int a = lo, b = hi;
    while (a < b) { /* the first day whose cumulative weight passes u */
        int mid = (a + b) / 2;
        if (x->cum[mid + 1] > u)
            b = mid;
        else
            a = mid + 1;
    }
    return a;
}

/* E[sqrt(value)] for the capped Pareto law, and the share of the window an
 * average customer is active in (measured over the since and churn laws
 * above): together they make the mean count per customer the one asked. */
#define MEAN_SQRT_VALUE 1.956
#define MEAN_ACTIVE_SHARE 0.487

/* A price as people set them: often whole yuan, sometimes ending in 9. */
static int64_t round_price(struct rng *r, int64_t fen)
{
    if (fen < 100)
        return 100;
    unsigned k = (unsigned)rng_below(r, 10);
    if (k < 5)
        return fen / 100 * 100;
    if (k < 7)
        return fen / 1000 * 1000 + 900; /* 1234.56 -> 1239.00 */
    return fen;
}

static void gen_txns(struct ctx *x, const struct cust *c, struct txnvec *out)
{
    out->n = 0;
    if (c->prospect)
        return;
    struct rng r;
    rng_init(&r, x->o.seed, (uint64_t)c->n, 2);
    int lo = (c->since > x->window_lo ? c->since : x->window_lo) - x->window_lo;
    int hi = c->active_to - x->window_lo;
    if (lo > hi)
        lo = hi;
    double share = (double)(hi - lo + 30) / (double)(x->ndays + 30);
    double mean = x->o.txns_per / (0.92 * MEAN_ACTIVE_SHARE) * share * sqrt(c->value) / MEAN_SQRT_VALUE *
                  (0.5 + rng_unit(&r));
    size_t count = (size_t)(mean + rng_unit(&r)); /* rounded at random: the mean stays */
    if (count < 1 && x->o.txns_per > 0)
        count = 1;
    if (count > out->cap) {
        out->cap = count * 2;
        out->v = xrealloc(out->v, out->cap * sizeof *out->v);
    }
    /* the typical ticket grows with the customer's worth: count ~ value^1/2
     * and ticket ~ value^1/4 put about half the revenue in the top 5% and
     * 80% in the top 20% (sqrt, unlike pow, is exact in IEEE arithmetic, so
     * the draws are the same on every machine) */
    double ticket = (c->corporate ? 150000.0 : 30000.0) * sqrt(sqrt(c->value));
    for (size_t i = 0; i < count; i++) {
        struct txn *t = &out->v[out->n++];
        const struct txn *prev = i ? &out->v[i - 1] : NULL;
        t->on_credit = 0;
        t->due = NO_DATE;
        t->secs = rng_range(&r, 9 * 3600, 21 * 3600 - 1);
        t->channel = pick(&r, &channels)->s;
        if (prev && prev->amount > 0 && rng_permille(&r, 30)) { /* a refund of the purchase before */
            t->product = prev->product;
            t->amount = rng_permille(&r, 600) ? -prev->amount : -(prev->amount * rng_range(&r, 10, 90) / 100);
            t->date = prev->date + rng_range(&r, 1, 30);
            if (t->date > c->active_to)
                t->date = c->active_to > prev->date ? c->active_to : prev->date;
        } else {
            t->product = pick(&r, &products);
            t->amount = round_price(&r, (int64_t)(ticket * (0.3 + 1.4 * rng_unit(&r))));
            t->date = x->window_lo + pick_day(x, &r, lo, hi);
        }
        t->has_margin = rng_permille(&r, 700);
        t->margin = t->has_margin ? t->amount * rng_range(&r, 50, 350) / 1000 : 0;
    }
}

/* ---------------------------------------------------------------- follow-ups */

enum fu_status { FU_DONE, FU_PLANNED, FU_CANCELLED };

struct followup {
    const char *kind, *outcome, *note;
    enum fu_status status;
    int date;        /* done, or due */
    int created;     /* the day it was recorded */
    int secs;
    int next;        /* NO_DATE or the next contact's date */
};

static const char *const fu_kinds[] = { "call", "visit", "email", "meeting" };
static const char *const fu_outcomes[] = { "有意向", "暂无需求", "已报价", "已成交", "需再次跟进", "未接通", "客户满意" };
static const char *const fu_notes[] = { "介绍新品", "回访满意度", "确认订单交付", "节日问候", "续约洽谈",
                                        "催收尾款", "了解采购计划", "处理售后问题", "邀请参加活动", "更新联系方式" };

/* The customer's follow-ups: contacts logged since it became a customer
 * (some cancelled), and what is planned next. A contact that ended "to be
 * followed up" names the next date, and that follow-up is planned (due soon,
 * or a little overdue), as kehud's FollowupLog does. Returns how many, and
 * the last contact (epoch seconds, 0 for none) in *last. */
static size_t gen_followups(struct ctx *x, const struct cust *c, struct followup *out, size_t max, int64_t *last)
{
    struct rng r;
    rng_init(&r, x->o.seed, (uint64_t)c->n, 3);
    *last = 0;
    size_t count = (size_t)(rng_unit(&r) * (2.0 * x->o.followups_per + 1.0));
    if (count + 1 > max)
        count = max - 1;
    int as_of = x->o.as_of;
    struct followup *latest = NULL;
    for (size_t i = 0; i < count; i++) {
        struct followup *f = &out[i];
        f->kind = fu_kinds[c->corporate ? rng_below(&r, 4) : rng_below(&r, 3) == 0 ? 2 : 0];
        f->note = fu_notes[rng_below(&r, sizeof fu_notes / sizeof fu_notes[0])];
        f->secs = rng_range(&r, 9 * 3600, 18 * 3600);
        f->next = NO_DATE;
        f->outcome = NULL;
        f->date = f->created = c->since + (int)rng_below(&r, (uint64_t)(as_of - c->since) + 1);
        if (rng_permille(&r, 50)) {
            f->status = FU_CANCELLED;
            continue;
        }
        f->status = FU_DONE;
        f->outcome = fu_outcomes[rng_below(&r, sizeof fu_outcomes / sizeof fu_outcomes[0])];
        if (!latest || f->date > latest->date || (f->date == latest->date && f->secs > latest->secs))
            latest = f;
    }
    int due = NO_DATE, created = as_of - rng_range(&r, 0, 7);
    if (latest) {
        *last = (int64_t)latest->date * 86400 + latest->secs - 8 * 3600;
        int next = latest->date + rng_range(&r, 7, 30);
        if (strstr("有意向 已报价 需再次跟进", latest->outcome) && next >= as_of - 14) {
            due = latest->next = next;
            created = latest->date;
        }
    }
    if (due == NO_DATE && count && rng_permille(&r, 300))
        due = as_of + rng_range(&r, 1, 30);
    if (due != NO_DATE) {
        struct followup *f = &out[count++];
        f->kind = fu_kinds[c->corporate ? rng_below(&r, 4) : 0];
        f->note = fu_notes[rng_below(&r, sizeof fu_notes / sizeof fu_notes[0])];
        f->secs = rng_range(&r, 9 * 3600, 18 * 3600);
        f->status = FU_PLANNED;
        f->date = due;
        f->created = created < c->since ? c->since : created;
        f->next = NO_DATE;
        f->outcome = NULL;
    }
    return count;
}

/* ---------------------------------------------------------------- credit and payments
 *
 * A share of the companies buy on credit (赊销): their purchases are due
 * after the customer's terms (账期: 30 to 90 days), and they pay each one
 * around its due date — most a little before it, some late; now and then a
 * large one in two instalments (首付款, 尾款). How often a customer pays
 * late is its own (most never, a few often); a few stopped paying some days
 * or months ago (a dispute, a failing business, a customer gone), so their
 * purchases due since are open. A payment that would fall after as_of has
 * not been made yet: a late payer's last purchases are then overdue today.
 * A purchase refunded right after is not sold on credit (kehud keeps
 * refunds off credit). */

struct payment {
    int date, secs;
    int64_t amount;     /* fen, > 0 */
    const char *method, *note;
    char reference[32];
};

struct payvec {
    struct payment *v;
    size_t n, cap;
};

/* What the credit of one customer comes to on as_of. */
struct credit_sum {
    int64_t balance;    /* credit sales minus payments, fen */
    uint64_t sales;     /* sales on credit */
    int overdue;        /* days the oldest open sale is past due; 0: none */
};

static void add_payment(struct rng *r, struct payvec *pv, int date, int64_t amount, const char *note)
{
    if (pv->n == pv->cap) {
        pv->cap = pv->cap ? pv->cap * 2 : 64;
        pv->v = xrealloc(pv->v, pv->cap * sizeof *pv->v);
    }
    struct payment *p = &pv->v[pv->n++];
    char d[11];
    fmt_date(d, date);
    p->date = date;
    p->amount = amount;
    p->secs = rng_range(r, 9 * 3600, 17 * 3600 + 1800);
    p->note = note;
    unsigned k = (unsigned)rng_below(r, 1000);
    if (k < 800) { /* a bank transfer: the bank's serial number */
        p->method = "transfer";
        snprintf(p->reference, sizeof p->reference, "%.4s%.2s%.2s%010llu", d, d + 5, d + 8,
                 (unsigned long long)rng_below(r, 10000000000ULL));
    } else if (k < 870) { /* a bank acceptance bill */
        p->method = "other";
        p->note = "银行承兑汇票";
        snprintf(p->reference, sizeof p->reference, "%016llu", (unsigned long long)rng_below(r, 10000000000000000ULL));
    } else if (k < 940) {
        p->method = "cheque";
        snprintf(p->reference, sizeof p->reference, "%08llu", (unsigned long long)rng_below(r, 100000000));
    } else { /* at the counter: the receipt's number */
        p->method = k < 970 ? "card" : "cash";
        snprintf(p->reference, sizeof p->reference, "SK%.4s%.2s%.2s%04d", d, d + 5, d + 8, rng_range(r, 1, 9999));
    }
}

/* Marks the customer's sales on credit in tv and writes its payments to pv. */
static struct credit_sum gen_credit(struct ctx *x, const struct cust *c, struct txnvec *tv, struct payvec *pv)
{
    struct credit_sum s = { 0 };
    pv->n = 0;
    if (!c->corporate || tv->n == 0)
        return s;
    struct rng r;
    rng_init(&r, x->o.seed, (uint64_t)c->n, 4);
    /* the larger the customer, the likelier it buys on credit */
    if (!rng_permille(&r, c->value >= 10 ? 700 : c->value >= 3 ? 550 : 400))
        return s;
    static const int terms[] = { 30, 45, 60, 90 };
    static const unsigned term_w[] = { 400, 150, 300, 150 };
    /* the share of credit sales paid late: most customers never, a few often */
    static const unsigned late_p[] = { 0, 20, 60, 150, 300, 500 };
    static const unsigned late_w[] = { 520, 180, 120, 90, 60, 30 };
    unsigned a = (unsigned)rng_below(&r, 1000), i = 0;
    while (a >= term_w[i])
        a -= term_w[i++];
    int term = terms[i];
    a = (unsigned)rng_below(&r, 1000), i = 0;
    while (a >= late_w[i])
        a -= late_w[i++];
    unsigned late = late_p[i], share = (unsigned)rng_range(&r, 600, 1000);
    int month_end = rng_permille(&r, 300); /* 月结: due at the end of the month the terms end in */
    int as_of = x->o.as_of, stop = INT32_MAX;
    if (rng_permille(&r, 80)) { /* stopped paying: what fell due since is open */
        static const int lo[] = { 1, 30, 60, 90, 180 }, hi[] = { 29, 59, 89, 179, 720 };
        int band = (int)rng_below(&r, 5);
        stop = as_of - rng_range(&r, lo[band], hi[band]);
    }
    int oldest = INT32_MAX;
    for (size_t k = 0; k < tv->n; k++) {
        struct txn *t = &tv->v[k];
        if (t->amount <= 0 || (k + 1 < tv->n && tv->v[k + 1].amount < 0) || !rng_permille(&r, share))
            continue;
        t->on_credit = 1;
        t->due = t->date + term;
        if (month_end) {
            int y, m, d;
            civil_from_days(t->due, &y, &m, &d);
            t->due = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) - 1;
        }
        s.sales++;
        s.balance += t->amount;
        int pay;
        if (t->due >= stop)
            pay = INT32_MAX;
        else if (rng_permille(&r, late))
            pay = t->due + (rng_permille(&r, 800) ? rng_range(&r, 1, 30) : rng_range(&r, 31, 120));
        else
            pay = t->due - rng_range(&r, 0, 10);
        if (pay < t->date)
            pay = t->date;
        if (pay > as_of) { /* not paid yet */
            if (t->due < oldest)
                oldest = t->due;
            continue;
        }
        if (t->amount >= 2000000 && rng_permille(&r, 120)) { /* 20,000 yuan or more, in two instalments */
            int64_t first = t->amount * rng_range(&r, 3, 7) / 10;
            int d1 = pay - rng_range(&r, 5, 25);
            add_payment(&r, pv, d1 < t->date ? t->date : d1, first, "首付款");
            add_payment(&r, pv, pay, t->amount - first, "尾款");
        } else {
            add_payment(&r, pv, pay, t->amount, rng_permille(&r, 600) ? "货款" : NULL);
        }
        s.balance -= t->amount;
    }
    s.overdue = oldest < as_of ? as_of - oldest : 0;
    return s;
}

/* ---------------------------------------------------------------- assets
 *
 * Balances a customer holds (AUM), as a bank's core system reports them at
 * each quarter end of the last year: most individuals and some companies
 * hold a deposit, richer ones also wealth products (理财, bought in whole
 * thousands of yuan), funds and insurance. The total grows with the
 * customer's worth, so asset tiers are long-tailed like revenue: about half
 * of the holders reach 100,000 yuan, one in ten 500,000 and a few percent
 * 2,000,000. A product is taken up at some quarter and may have matured
 * since (a last snapshot of 0). */

struct snap {
    int date;
    int64_t balance;    /* fen */
    const char *product;
};

#define MAX_SNAPS 16

/* The quarter ends in (as_of - 1 year, as_of], oldest first; as_of itself
 * when none is after the customer became one. */
static int quarter_ends(int as_of, int since, int out[5])
{
    int y, m, d, n = 0;
    civil_from_days(as_of, &y, &m, &d);
    for (int yy = y - 1; yy <= y; yy++)
        for (int q = 1; q <= 4; q++) {
            int end = days_from_civil(q == 4 ? yy + 1 : yy, q == 4 ? 1 : q * 3 + 1, 1) - 1;
            if (end > years_before(as_of, 1) && end <= as_of && end >= since)
                out[n++] = end;
        }
    if (n == 0)
        out[n++] = as_of;
    return n;
}

/* The customer's snapshots into out; returns how many and its AUM on as_of in *aum. */
static size_t gen_assets(struct ctx *x, const struct cust *c, struct snap *out, int64_t *aum)
{
    *aum = 0;
    struct rng r;
    rng_init(&r, x->o.seed, (uint64_t)c->n, 5);
    if (!rng_permille(&r, c->corporate ? 200 : c->value >= 3 ? 750 : 550))
        return 0;
    /* yuan: worth times a spread of 0.25 .. 2.75 (mean about 1.1) */
    double u = rng_unit(&r);
    double total = (c->corporate ? 150000.0 : 40000.0) * c->value * (0.25 + 2.5 * u * u);
    static const char *const kinds[] = { "deposit", "wealth", "fund", "insurance" };
    double w[4] = { 1.0 + rng_unit(&r), 0, 0, 0 }, sum = 0;
    if (total >= 50000 && rng_permille(&r, 600))
        w[1] = 1.5 * rng_unit(&r) + 0.2;
    if (rng_permille(&r, 300))
        w[2] = rng_unit(&r) + 0.1;
    if (!c->corporate && rng_permille(&r, 200))
        w[3] = 0.5 * rng_unit(&r) + 0.1;
    for (int p = 0; p < 4; p++)
        sum += w[p];
    int qe[5], nq = quarter_ends(x->o.as_of, c->since, qe);
    size_t n = 0;
    for (int p = 0; p < 4; p++) {
        if (w[p] == 0)
            continue;
        int64_t bal = (int64_t)(total * w[p] / sum * 100.0); /* fen */
        int first = p == 0 ? 0 : (int)rng_below(&r, (uint64_t)nq); /* taken up at some quarter */
        int matured = p == 1 && nq - first > 1 && rng_permille(&r, 60);
        for (int q = nq - 1; q >= first; q--) { /* newest first: earlier balances wander from it */
            struct snap *s = &out[n + (size_t)(q - first)];
            s->date = qe[q];
            s->product = kinds[p];
            if (q == nq - 1 && matured) {
                s->balance = 0;
                continue;
            }
            if (q < nq - 1)
                bal = bal * rng_range(&r, 80, 115) / 100;
            s->balance = p == 1 ? (bal / 100000 + 1) * 100000 : bal; /* wealth: whole thousands */
            if (q == nq - 1)
                *aum += s->balance;
        }
        n += (size_t)(nq - first);
    }
    return n;
}

/* ---------------------------------------------------------------- the context */

static void ctx_init(struct ctx *x)
{
    x->window_lo = years_before(x->o.as_of, x->o.since_years);
    x->ndays = x->o.as_of - x->window_lo + 1;
    x->cum = xmalloc(((size_t)x->ndays + 1) * sizeof *x->cum);
    x->date_text = xmalloc((size_t)x->ndays * sizeof *x->date_text);
    x->cum[0] = 0;
    for (int i = 0; i < x->ndays; i++) {
        x->cum[i + 1] = x->cum[i] + day_weight(x->window_lo + i);
        fmt_date(x->date_text[i], x->window_lo + i);
    }
    hset_init(&x->corp_names, (size_t)x->o.customers / 3 + 16);
    hset_init(&x->pairs, (size_t)x->o.customers / 3 + 16);
    hset_init(&x->id_numbers, (size_t)x->o.customers + 16);
}

static void ctx_free(struct ctx *x)
{
    free(x->cum);
    free(x->date_text);
    free(x->corp_names.slot);
    free(x->pairs.slot);
    free(x->id_numbers.slot);
    for (size_t i = 0; i < x->nowners; i++)
        free(x->owner_names[i]);
    free(x->owner_names);
    free(x->owner_ids);
}

static const char *txn_date(const struct ctx *x, int day, char tmp[11])
{
    if (day >= x->window_lo && day < x->window_lo + x->ndays)
        return x->date_text[day - x->window_lo];
    fmt_date(tmp, day);
    return tmp;
}

/* "2024-01-31 14:05:09+08" */
static void fmt_time(char out[32], int day, int secs)
{
    char d[11];
    fmt_date(d, day);
    snprintf(out, 32, "%s %02d:%02d:%02d+08", d, secs / 3600, secs / 60 % 60, secs % 60);
}

/* Revenue shares for the summary: top 5%, next 15%, the rest. */
struct tally {
    long customers, prospects;
    uint64_t txns, refunds, followups;
    long credit_customers, overdue[5];  /* days overdue: 1-29, 30-59, 60-89, 90-179, 180+ */
    uint64_t credit_sales, payments, snaps;
    long asset_customers, tiers[3];     /* AUM tiers general, wealth, vip */
    int64_t owed;
    int64_t revenue;
    int64_t *revenues;
};

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void tally_print(struct tally *t, double secs)
{
    qsort(t->revenues, (size_t)t->customers, sizeof *t->revenues, cmp_desc);
    long a = t->customers * 5 / 100, b = t->customers * 20 / 100;
    int64_t sa = 0, sb = 0;
    for (long i = 0; i < b; i++) {
        if (i < a)
            sa += t->revenues[i];
        else
            sb += t->revenues[i];
    }
    double total = t->revenue > 0 ? (double)t->revenue : 1.0;
    struct buf m = { 0 };
    buf_money(&m, t->revenue);
    fprintf(stderr,
            "%s: %ld customers (%ld without transactions), %llu transactions (%llu refunds), %llu follow-ups"
            " in %.1f s\n"
            "%s: revenue %s yuan; top 5%% of customers hold %.1f%%, the next 15%% %.1f%%, the rest %.1f%%\n",
            prog, t->customers, t->prospects, (unsigned long long)t->txns, (unsigned long long)t->refunds,
            (unsigned long long)t->followups, secs, prog, m.p, 100.0 * (double)sa / total,
            100.0 * (double)sb / total, 100.0 * (double)(t->revenue - sa - sb) / total);
    free(m.p);
}

static void tally_add(struct tally *t, const struct cust *c, const struct txnvec *tv)
{
    t->revenues[t->customers++] = c->revenue;
    t->prospects += tv->n == 0;
    t->txns += tv->n;
    for (size_t i = 0; i < tv->n; i++)
        t->refunds += tv->v[i].amount < 0;
    t->revenue += c->revenue;
}

static void tally_credit(struct tally *t, const struct credit_sum *cs, size_t payments, size_t snaps, int64_t aum)
{
    static const int from[] = { 1, 30, 60, 90, 180 };
    static const int64_t tier_min[] = { 10000000, 50000000, 200000000 }; /* fen: sql/0006's policy */
    t->credit_customers += cs->sales > 0;
    t->credit_sales += cs->sales;
    t->payments += payments;
    t->owed += cs->balance;
    for (int b = 4; b >= 0; b--)
        if (cs->overdue >= from[b]) {
            t->overdue[b]++;
            break;
        }
    t->asset_customers += snaps > 0;
    t->snaps += snaps;
    for (int k = 2; k >= 0; k--)
        if (aum >= tier_min[k]) {
            t->tiers[k]++;
            break;
        }
}

static void tally_print_credit(const struct tally *t)
{
    struct buf m = { 0 };
    buf_money(&m, t->owed);
    fprintf(stderr,
            "%s: %ld customers buy on credit: %llu credit sales, %llu payments, %s yuan owed; overdue today"
            " 1-29 days %ld, 30-59 %ld, 60-89 %ld, 90-179 %ld, 180 and more %ld\n"
            "%s: %ld customers hold assets (%llu snapshots); by AUM today general (100,000 yuan) %ld,"
            " wealth (500,000) %ld, vip (2,000,000) %ld\n",
            prog, t->credit_customers, (unsigned long long)t->credit_sales, (unsigned long long)t->payments, m.p,
            t->overdue[0], t->overdue[1], t->overdue[2], t->overdue[3], t->overdue[4], prog, t->asset_customers,
            (unsigned long long)t->snaps, t->tiers[0], t->tiers[1], t->tiers[2]);
    free(m.p);
}

static int64_t sum_amounts(const struct txnvec *tv)
{
    int64_t s = 0;
    for (size_t i = 0; i < tv->n; i++)
        s += tv->v[i].amount;
    return s;
}

/* ---------------------------------------------------------------- CSV output */

struct out {
    FILE *f;
    iconv_t cd; /* (iconv_t)-1: UTF-8 as is */
    const char *path;
};

/* Writes what the writer holds (whole records) and empties it. */
static void out_write(struct out *o, struct csv_writer *w)
{
    if (w->err)
        die("out of memory");
    if (o->cd == (iconv_t)-1) {
        if (w->len && fwrite(w->data, 1, w->len, o->f) != w->len)
            die("writing %s: %s", o->path, strerror(errno));
    } else {
        char tmp[65536], *in = w->data;
        size_t left = w->len;
        while (left) {
            char *op = tmp;
            size_t room = sizeof tmp;
            if (iconv(o->cd, &in, &left, &op, &room) == (size_t)-1 && errno != E2BIG)
                die("converting to GB18030: %s", strerror(errno));
            if (fwrite(tmp, 1, (size_t)(op - tmp), o->f) != (size_t)(op - tmp))
                die("writing %s: %s", o->path, strerror(errno));
        }
    }
    csv_writer_reset(w);
}

static void out_open(struct out *o, const char *dir, const char *name, int gbk)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        die("out of memory");
    o->path = path;
    o->f = fopen(path, "wb");
    if (!o->f)
        die("cannot create %s: %s", path, strerror(errno));
    o->cd = (iconv_t)-1;
    if (gbk && (o->cd = iconv_open("GB18030", "UTF-8")) == (iconv_t)-1)
        die("iconv cannot convert to GB18030: %s", strerror(errno));
}

static void out_close(struct out *o)
{
    if (fclose(o->f) != 0)
        die("writing %s: %s", o->path, strerror(errno));
    if (o->cd != (iconv_t)-1)
        iconv_close(o->cd);
    free((char *)o->path);
}

static const char *const csv_customer_cols[] = { "ext_ref", "name", "kind", "phone", "email", "id_number",
                                                 "company", "gender", "birth", "address", "region", "industry",
                                                 "size", "occupation", "source", "tags", "owner", "since" };
/* The headers a Chinese spreadsheet has. */
static const char *const csv_customer_cols_zh[] = { "客户编号", "姓名", "客户类型", "电话", "邮箱", "证件号码",
                                                    "公司", "性别", "出生日期", "地址", "地区", "行业",
                                                    "规模", "职业", "来源", "标签", "客户经理", "建档日期" };
static const char *const csv_txn_cols[] = { "customer", "date", "amount", "margin", "product", "category", "channel" };

/* A list in one field: "a,b". */
static void csv_join(struct csv_writer *w, const char *const *items, int n, char sep)
{
    char joined[512] = "", between[2] = { sep, 0 };
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof joined; i++)
        len += (size_t)snprintf(joined + len, sizeof joined - len, "%s%s", i ? between : "", items[i]);
    csv_writer_str(w, joined);
}

/* A Chinese spreadsheet's spelling of a date: 2024/1/5. */
static void fmt_date_zh(char out[11], int days)
{
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, 11, "%u/%u/%u", (unsigned)y % 10000u, (unsigned)m % 13u, (unsigned)d % 32u);
}

static const char *source_zh(const char *s)
{
    static const char *const map[][2] = { { "b2b_platform", "B2B平台" }, { "trade_show", "展会" },
                                          { "search_engine", "搜索引擎" }, { "purchased_list", "购买名单" },
                                          { "referral", "转介绍" }, { "walk_in", "上门" }, { "other", "其他" } };
    for (size_t i = 0; s && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i][0], s) == 0)
            return map[i][1];
    return s;
}

/* One customers.csv row. With zh, as a Chinese spreadsheet has it: 男/女,
 * 个人/企业, Chinese sources, lists separated by ';', dates as 2024/1/5 (the
 * importer's aliases and loose dates read them back to the same values). */
static void csv_customer(struct csv_writer *w, const struct cust *c, int zh)
{
    char birth[11] = "", since[11];
    void (*date)(char[11], int) = zh ? fmt_date_zh : fmt_date;
    if (c->birth != NO_DATE)
        date(birth, c->birth);
    date(since, c->since);
    const char *phones[2] = { c->phones[0], c->phones[1] };
    const char *kind = c->corporate ? (zh ? "企业" : "corporate") : (zh ? "个人" : "individual");
    const char *gender = zh && *c->gender ? (strcmp(c->gender, "male") == 0 ? "男" : "女") : c->gender;
    csv_writer_str(w, c->ext_ref);
    csv_writer_str(w, c->name);
    csv_writer_str(w, kind);
    csv_join(w, phones, c->nphones, zh ? ';' : ',');
    csv_writer_str(w, c->email);
    csv_writer_str(w, c->id_number);
    csv_writer_str(w, c->company);
    csv_writer_str(w, gender);
    csv_writer_str(w, birth);
    csv_writer_str(w, c->address);
    csv_writer_str(w, c->region ? c->region : "");
    csv_writer_str(w, c->industry ? c->industry : "");
    csv_writer_str(w, c->size ? c->size : "");
    csv_writer_str(w, c->occupation ? c->occupation : "");
    csv_writer_str(w, zh ? source_zh(c->source) : c->source ? c->source : "");
    csv_join(w, c->tags, c->ntags, zh ? ';' : ',');
    csv_writer_str(w, c->owner_name ? c->owner_name : "");
    csv_writer_str(w, since);
    csv_writer_end_record(w);
}

static void csv_txns(struct ctx *x, struct csv_writer *w, const struct cust *c, const struct txnvec *tv)
{
    char date[11], amount[32], margin[32];
    for (size_t i = 0; i < tv->n; i++) {
        const struct txn *t = &tv->v[i];
        fmt_money(amount, t->amount);
        margin[0] = 0;
        if (t->has_margin)
            fmt_money(margin, t->margin);
        const char *row[] = { c->ext_ref, txn_date(x, t->date, date), amount, margin, t->product->s, t->product->py,
                              t->channel };
        for (size_t k = 0; k < sizeof row / sizeof row[0]; k++)
            csv_writer_str(w, row[k]);
        csv_writer_end_record(w);
    }
}

static int run_csv(struct ctx *x)
{
    if (mkdir(x->o.csv_dir, 0777) < 0 && errno != EEXIST)
        die("cannot create %s: %s", x->o.csv_dir, strerror(errno));
    if (x->o.branch) /* the file has no branch column: the importer's caller chooses it */
        set_home_city(x, x->o.branch);
    struct out oc, ot;
    out_open(&oc, x->o.csv_dir, "customers.csv", x->o.gbk);
    out_open(&ot, x->o.csv_dir, "txns.csv", 0);
    struct csv_writer bc, bt; /* UTF-8 with a BOM, CRLF, RFC 4180 quoting */
    csv_writer_init(&bc);
    csv_writer_init(&bt);
    if (!x->o.gbk) /* GB18030 files from Excel carry no mark */
        csv_writer_bom(&bc);
    csv_writer_bom(&bt);
    for (size_t i = 0; i < sizeof csv_customer_cols / sizeof csv_customer_cols[0]; i++)
        csv_writer_str(&bc, x->o.gbk ? csv_customer_cols_zh[i] : csv_customer_cols[i]);
    csv_writer_end_record(&bc);
    for (size_t i = 0; i < sizeof csv_txn_cols / sizeof csv_txn_cols[0]; i++)
        csv_writer_str(&bt, csv_txn_cols[i]);
    csv_writer_end_record(&bt);

    struct tally t = { 0 };
    t.revenues = xmalloc((size_t)x->o.customers * sizeof *t.revenues);
    struct txnvec tv = { 0 };
    struct cust c;
    double start = now_s(), last = start;
    for (long n = 1; n <= x->o.customers; n++) {
        gen_customer(x, n, &c);
        gen_txns(x, &c, &tv);
        c.revenue = sum_amounts(&tv);
        struct arena a = { 0 };
        struct cvalues v;
        values_of(&a, &c, &v); /* what the importer will check */
        arena_free(&a);
        csv_customer(&bc, &c, x->o.gbk);
        csv_txns(x, &bt, &c, &tv);
        tally_add(&t, &c, &tv);
        if (bc.len > WRITE_FLUSH)
            out_write(&oc, &bc);
        if (bt.len > WRITE_FLUSH)
            out_write(&ot, &bt);
        double now = now_s();
        if (now - last >= 2.0 || n == x->o.customers) {
            fprintf(stderr, "%s: %ld/%ld customers, %llu transactions (%.0f customers/s, %.0f rows/s)\n", prog, n,
                    x->o.customers, (unsigned long long)t.txns, (double)n / (now - start),
                    (double)((uint64_t)n + t.txns) / (now - start));
            last = now;
        }
    }
    out_write(&oc, &bc);
    out_write(&ot, &bt);
    out_close(&oc);
    out_close(&ot);
    tally_print(&t, now_s() - start);
    fprintf(stderr, "%s: wrote %s/customers.csv (%s) and %s/txns.csv\n", prog, x->o.csv_dir,
            x->o.gbk ? "GB18030" : "UTF-8", x->o.csv_dir);
    free(t.revenues);
    free(tv.v);
    csv_writer_free(&bc);
    csv_writer_free(&bt);
    return 0;
}

/* ---------------------------------------------------------------- PostgreSQL */

static PGresult *q(PGconn *pg, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        die("%s\n  in: %.200s", PQresultErrorMessage(r), sql);
    return r;
}

static void exec(PGconn *pg, const char *sql)
{
    PQclear(q(pg, sql, 0, NULL));
}

/* The first value of a one-value query, malloc'd; NULL for no row or NULL. */
static char *q_value(PGconn *pg, const char *sql, int n, const char *const *params)
{
    PGresult *r = q(pg, sql, n, params);
    char *v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    return v;
}

/* Follow-ups go into the table followup (sql/0003) when the schema has it:
 * its columns are read from information_schema and filled by name, so that a
 * column added later with a default does not break the load. */
enum fcol { FC_BRANCH, FC_CUSTOMER, FC_KIND, FC_STATUS, FC_DUE, FC_DONE_AT, FC_OUTCOME, FC_NOTE, FC_NEXT, FC_OWNER,
            FC_CREATED_AT, FC_UPDATED_AT };

static const char *const fu_columns[] = {
    [FC_BRANCH] = "branch_id", [FC_CUSTOMER] = "customer_id", [FC_KIND] = "kind", [FC_STATUS] = "status",
    [FC_DUE] = "due", [FC_DONE_AT] = "done_at", [FC_OUTCOME] = "outcome", [FC_NOTE] = "note", [FC_NEXT] = "next",
    [FC_OWNER] = "owner_id", [FC_CREATED_AT] = "created_at", [FC_UPDATED_AT] = "updated_at",
};
#define FU_NCOLS (sizeof fu_columns / sizeof fu_columns[0])

struct fu_plan {
    int on;
    enum fcol cols[FU_NCOLS];
    int ncols;
    int owner_required, due_required;
    char sql[512];
};

/* Fills plan, or says why follow-ups are left out. */
static void fu_plan_make(PGconn *pg, struct fu_plan *plan, int have_owners)
{
    memset(plan, 0, sizeof *plan);
    PGresult *r = q(pg,
                    "SELECT column_name, is_nullable = 'YES', column_default IS NOT NULL OR is_identity = 'YES'"
                    " OR is_generated = 'ALWAYS' FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = 'followup' ORDER BY ordinal_position",
                    0, NULL);
    size_t len = (size_t)snprintf(plan->sql, sizeof plan->sql, "COPY followup (");
    char why[200] = "";
    if (PQntuples(r) == 0)
        snprintf(why, sizeof why, "this schema has no table followup yet");
    for (int i = 0; i < PQntuples(r) && !*why; i++) {
        const char *name = PQgetvalue(r, i, 0);
        int nullable = PQgetvalue(r, i, 1)[0] == 't', defaulted = PQgetvalue(r, i, 2)[0] == 't';
        size_t fc = 0;
        while (fc < FU_NCOLS && strcmp(fu_columns[fc], name) != 0)
            fc++;
        if (fc == FU_NCOLS) { /* id, created_by ...: the default or NULL */
            if (!nullable && !defaulted)
                snprintf(why, sizeof why, "table followup: its column %s is required and unknown to kehu-seed", name);
            continue;
        }
        plan->owner_required |= fc == FC_OWNER && !nullable;
        plan->due_required |= fc == FC_DUE && !nullable;
        if (fc == FC_DONE_AT && !nullable)
            snprintf(why, sizeof why, "table followup: done_at is required, so planned follow-ups cannot be written");
        plan->cols[plan->ncols++] = (enum fcol)fc;
        len += (size_t)snprintf(plan->sql + len, sizeof plan->sql - len, "%s%s", plan->ncols > 1 ? ", " : "", name);
    }
    PQclear(r);
    if (!*why && plan->owner_required && !have_owners)
        snprintf(why, sizeof why, "follow-ups need an owner and the branch has no account manager (give --owners)");
    if (*why) {
        fprintf(stderr, "%s: note: %s: follow-ups are left out\n", prog, why);
        return;
    }
    snprintf(plan->sql + len, sizeof plan->sql - len, ") FROM STDIN");
    plan->on = 1;
}

static void fu_row(struct buf *b, const struct fu_plan *plan, const struct followup *f, int64_t id,
                   int64_t branch_id, int64_t owner_id)
{
    char num[24], d1[11], d2[11], ts[32];
    for (int i = 0; i < plan->ncols; i++) {
        const char *v = NULL;
        switch (plan->cols[i]) {
        case FC_BRANCH:
            snprintf(num, sizeof num, "%lld", (long long)branch_id);
            v = num;
            break;
        case FC_CUSTOMER:
            snprintf(num, sizeof num, "%lld", (long long)id);
            v = num;
            break;
        case FC_KIND: v = f->kind; break;
        case FC_STATUS: v = f->status == FU_DONE ? "done" : f->status == FU_PLANNED ? "planned" : "cancelled"; break;
        case FC_DUE: /* the day it was (or is) due; a contact logged without a plan has none */
            if (f->status != FU_DONE || plan->due_required) {
                fmt_date(d1, f->date);
                v = d1;
            }
            break;
        case FC_DONE_AT:
            if (f->status == FU_DONE) {
                fmt_time(ts, f->date, f->secs);
                v = ts;
            }
            break;
        case FC_OUTCOME: v = f->outcome; break;
        case FC_NOTE: v = f->note; break;
        case FC_NEXT:
            if (f->next != NO_DATE) {
                fmt_date(d2, f->next);
                v = d2;
            }
            break;
        case FC_OWNER:
            if (owner_id) {
                snprintf(num, sizeof num, "%lld", (long long)owner_id);
                v = num;
            }
            break;
        case FC_CREATED_AT:
        case FC_UPDATED_AT:
            fmt_time(ts, f->created, f->secs);
            v = ts;
            break;
        }
        copy_field(b, v, i == 0);
    }
    buf_addc(b, '\n');
}

/* One customer row: the values as kehud normalised them, with the search keys
 * kehud computes (customer_keys, as CustomerAdd and the importer call it). */
static void copy_customer(struct buf *b, struct arena *a, const struct cust *c, const struct cvalues *v, int64_t id,
                          int64_t branch_id, int64_t last_contact, double *keys_s)
{
    char num[24], created[32], last[40];
    snprintf(num, sizeof num, "%lld", (long long)id);
    copy_field(b, num, 1);
    snprintf(num, sizeof num, "%lld", (long long)branch_id);
    copy_field(b, num, 0);
    snprintf(num, sizeof num, "%lld", (long long)c->owner_id);
    copy_field(b, c->owner_id ? num : NULL, 0);
    static const int cols[] = { FI_KIND, FI_NAME, FI_EXT_REF, FI_GENDER, FI_BIRTH, FI_ID_NUMBER, FI_PHONES, FI_EMAIL,
                                FI_COMPANY, FI_ADDRESS, FI_REGION, FI_INDUSTRY, FI_SIZE, FI_OCCUPATION, FI_SOURCE,
                                FI_TAGS, FI_SINCE };
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        copy_field(b, customer_field_param(a, v, cols[i]), 0);
    fmt_time(created, c->since, c->created_secs);
    copy_field(b, created, 0);
    copy_field(b, created, 0);
    if (last_contact) {
        time_t t = (time_t)last_contact;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(last, sizeof last, "%Y-%m-%d %H:%M:%S+00", &tm);
    }
    copy_field(b, last_contact ? last : NULL, 0);
    buf_addc(b, '\t');
    buf_money(b, c->revenue);
    buf_addc(b, '\t');
    buf_money(b, c->balance);
    struct customer_keys k;
    double k0 = now_s();
    if (customer_keys(a, v, &k) < 0)
        die("computing the search keys of '%s' failed", c->name);
    *keys_s += now_s() - k0;
    copy_field(b, k.sort_key, 0);
    copy_field(b, k.text, 0);
    copy_field(b, k.tokens, 0);
    buf_addc(b, '\n');
}

#define CUSTOMER_COPY                                                                                          \
    "COPY customer (id, branch_id, owner_id, kind, name, ext_ref, gender, birth, id_number, phones, email,"   \
    " company, address, region, industry, size, occupation, source, tags, since, created_at, updated_at,"     \
    " last_contact_at, revenue, balance, sort_key, search_text, search_tokens) FROM STDIN"
#define CHANGE_LOG_COPY                                                                                        \
    "COPY change_log (branch_id, customer_id, entity, entity_id, field, new_value, version, changed_at)"      \
    " FROM STDIN"
#define TXN_COPY                                                                                               \
    "COPY txn (branch_id, customer_id, date, amount, margin, product, category, channel, created_at, on_credit, due)" \
    " FROM STDIN"
#define PAYMENT_COPY                                                                                           \
    "COPY payment (branch_id, customer_id, date, amount, method, reference, note, created_at, created_by)"     \
    " FROM STDIN"
#define ASSET_COPY                                                                                             \
    "COPY asset_snapshot (branch_id, customer_id, date, balance, product, created_at, updated_at) FROM STDIN"

struct db {
    PGconn *pg;
    int64_t branch_id;
    char *branch_name;
    int replica;            /* triggers and FK checks off for this session */
    struct fu_plan fu;
    char *seq;              /* customer's id sequence */
    double keys_s;          /* seconds in search_keys_* */
};

/* Finds the branch and the owners, and sets the session up. */
static void db_prepare(struct ctx *x, struct db *d)
{
    PGconn *pg = d->pg;
    char *v;
    PGresult *r;
    if (x->o.branch) {
        const char *p[] = { x->o.branch };
        r = q(pg, "SELECT id, name FROM org_unit WHERE kind = 'branch' AND (id::text = $1 OR lower(name) = lower($1))",
              1, p);
        if (PQntuples(r) != 1)
            die("no branch '%s' (give a branch's name or id)", x->o.branch);
    } else {
        r = q(pg, "SELECT id, name FROM org_unit WHERE kind = 'branch' ORDER BY id LIMIT 1", 0, NULL);
        if (PQntuples(r) != 1)
            die("there is no branch yet: create one (kehu org add NAME --kind branch ..., or kehud demo)");
    }
    d->branch_id = atoll(PQgetvalue(r, 0, 0));
    d->branch_name = strdup(PQgetvalue(r, 0, 1));
    PQclear(r);
    set_home_city(x, d->branch_name);

    char bid[24];
    snprintf(bid, sizeof bid, "%lld", (long long)d->branch_id);
    if (x->o.owners) {
        char *list = strdup(x->o.owners), *save = NULL;
        for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
            const char *p[] = { u };
            r = q(pg,
                  "SELECT u.id, u.username, u.role::text, coalesce(o.branch_id, 0), u.disabled_at IS NOT NULL"
                  " FROM app_user u JOIN org_unit o ON o.id = u.unit_id WHERE u.username = lower($1)",
                  1, p);
            if (PQntuples(r) != 1)
                die("no user named '%s'", u);
            if (strcmp(PQgetvalue(r, 0, 2), "account_manager") && strcmp(PQgetvalue(r, 0, 2), "branch_manager"))
                die("an owner is an account manager or a branch manager; '%s' is not", u);
            if (atoll(PQgetvalue(r, 0, 3)) != d->branch_id)
                die("'%s' does not work in branch '%s'", u, d->branch_name);
            if (PQgetvalue(r, 0, 4)[0] == 't')
                die("user '%s' is disabled", u);
            x->owner_ids = xrealloc(x->owner_ids, (x->nowners + 1) * sizeof *x->owner_ids);
            x->owner_names = xrealloc(x->owner_names, (x->nowners + 1) * sizeof *x->owner_names);
            x->owner_ids[x->nowners] = atoll(PQgetvalue(r, 0, 0));
            x->owner_names[x->nowners++] = strdup(PQgetvalue(r, 0, 1));
            PQclear(r);
        }
        free(list);
    } else {
        const char *p[] = { bid };
        r = q(pg,
              "SELECT u.id, u.username FROM app_user u JOIN org_unit o ON o.id = u.unit_id"
              " WHERE o.branch_id = $1 AND u.role = 'account_manager' AND u.disabled_at IS NULL ORDER BY u.id",
              1, p);
        x->nowners = (size_t)PQntuples(r);
        x->owner_ids = xmalloc((x->nowners + 1) * sizeof *x->owner_ids);
        x->owner_names = xmalloc((x->nowners + 1) * sizeof *x->owner_names);
        for (size_t i = 0; i < x->nowners; i++) {
            x->owner_ids[i] = atoll(PQgetvalue(r, (int)i, 0));
            x->owner_names[i] = strdup(PQgetvalue(r, (int)i, 1));
        }
        PQclear(r);
    }

    /* a second run of the same seed into the same branch would collide on ext_ref */
    char pattern[48];
    snprintf(pattern, sizeof pattern, "SEED-%llu-%%", (unsigned long long)x->o.seed);
    const char *p2[] = { bid, pattern };
    v = q_value(pg, "SELECT ext_ref FROM customer WHERE branch_id = $1 AND ext_ref LIKE $2 LIMIT 1", 2, p2);
    if (v)
        die("branch '%s' already holds customers of seed %llu (%s ...): use another --seed", d->branch_name,
            (unsigned long long)x->o.seed, v);

    d->seq = q_value(pg, "SELECT pg_get_serial_sequence('customer', 'id')", 0, NULL);
    if (!d->seq)
        die("customer.id has no sequence");

    /* triggers and foreign-key checks off, when this role may */
    PGresult *rr = PQexec(pg, "SET session_replication_role = replica");
    d->replica = PQresultStatus(rr) == PGRES_COMMAND_OK;
    PQclear(rr);
    if (d->replica) {
        /* insert triggers other than the change log (written here) and the
         * announcements (not wanted for a load) would be missed */
        r = q(pg,
              "SELECT string_agg(tgrelid::regclass || '.' || tgname, ', ' ORDER BY tgrelid::regclass::text, tgname)"
              " FROM pg_trigger WHERE NOT tgisinternal AND tgenabled NOT IN ('D', 'A') AND (tgtype & 4) <> 0"
              " AND tgrelid IN (SELECT oid FROM pg_class WHERE relname IN ('customer', 'txn', 'followup', 'change_log',"
              "   'payment', 'asset_snapshot')"
              "   AND relnamespace = current_schema()::regnamespace)"
              " AND tgfoid::regproc::text NOT IN ('customer_changed', 'customer_row_added', 'customer_search_key_sync')",
              0, NULL);
        if (!PQgetisnull(r, 0, 0))
            fprintf(stderr,
                    "%s: warning: these triggers do not run during the load (session_replication_role = replica),"
                    " so what they maintain is not maintained: %s\n",
                    prog, PQgetvalue(r, 0, 0));
        PQclear(r);
    } else {
        fprintf(stderr,
                "%s: note: this role may not set session_replication_role: triggers and foreign-key checks run"
                " for every row (slower; one NOTIFY per customer)\n",
                prog);
    }
    /* with triggers on, they skip their announcements (as kehud's imports do) */
    exec(pg, "SET kehu.bulk = on");
    exec(pg, "SET synchronous_commit = off");
    exec(pg, "SET work_mem = '64MB'");
    if (x->o.followups_per > 0)
        fu_plan_make(pg, &d->fu, x->nowners > 0);
}

/* Ids for all the customers, from customer's own sequence, taken at once
 * (other sessions may take ids meanwhile: each one is still unique). */
static int64_t *reserve_ids(struct db *d, long k)
{
    char n[24];
    snprintf(n, sizeof n, "%ld", k);
    const char *p[] = { d->seq, n };
    PGresult *r = q(d->pg, "SELECT nextval($1::regclass) FROM generate_series(1, $2::int)", 2, p);
    int64_t *ids = xmalloc((size_t)k * sizeof *ids);
    for (long i = 0; i < k; i++)
        ids[i] = atoll(PQgetvalue(r, (int)i, 0));
    PQclear(r);
    return ids;
}

/* ---- the sender: a thread that runs the COPYs and commits while the main
 * thread generates the next chunk (it alone uses ICU; the sender alone uses
 * the connection). */

struct job {
    struct buf customers, logs, txns, followups, payments, assets;
    long count;               /* customers */
    uint64_t ntxns, nfollowups, npayments, nassets;
    int begin, commit;        /* BEGIN before it, COMMIT after it */
};

#define NJOBS 3

struct sender {
    struct db *d;
    long total;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job jobs[NJOBS];
    int head, filled, finished; /* jobs[head] is sent next; `filled` jobs wait or are being sent */
    long customers;           /* committed */
    uint64_t txns, followups, payments, assets;
    double start;
    double t_customers, t_logs, t_txns, t_followups, t_payments, t_assets; /* seconds in each COPY */
};

/* Sends a whole buffer as one COPY; returns the seconds it took. */
static double copy_buffer(PGconn *pg, const char *sql, struct buf *data)
{
    double t0 = now_s();
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN)
        die("%s\n  in: %s", PQresultErrorMessage(r), sql);
    PQclear(r);
    if ((data->len && PQputCopyData(pg, data->p, (int)data->len) != 1) || PQputCopyEnd(pg, NULL) != 1)
        die("COPY: %s", PQerrorMessage(pg));
    while ((r = PQgetResult(pg))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            die("%s\n  in: %s", PQresultErrorMessage(r), sql);
        PQclear(r);
    }
    data->len = 0;
    return now_s() - t0;
}

/* One txn row in COPY text format (the strings need no escaping). */
static void txn_row(struct ctx *x, struct buf *b, const char *branch, const char *id, const struct txn *tx)
{
    char tmp[11], hms[32];
    const char *date = txn_date(x, tx->date, tmp);
    buf_add(b, branch);
    buf_addc(b, '\t');
    buf_add(b, id);
    buf_addc(b, '\t');
    buf_add(b, date);
    buf_addc(b, '\t');
    buf_money(b, tx->amount);
    buf_addc(b, '\t');
    if (tx->has_margin)
        buf_money(b, tx->margin);
    else
        buf_add(b, "\\N");
    buf_addc(b, '\t');
    buf_add(b, tx->product->s);
    buf_addc(b, '\t');
    buf_add(b, tx->product->py);
    buf_addc(b, '\t');
    buf_add(b, tx->channel);
    buf_addc(b, '\t');
    buf_add(b, date);
    snprintf(hms, sizeof hms, " %02d:%02d:%02d+08\t", tx->secs / 3600, tx->secs / 60 % 60, tx->secs % 60);
    buf_add(b, hms);
    if (tx->on_credit) {
        char due[11];
        buf_add(b, "t\t");
        buf_add(b, txn_date(x, tx->due, due));
        buf_addc(b, '\n');
    } else {
        buf_add(b, "f\t\\N\n");
    }
}

/* One payment row, recorded by the customer's owner (NULL: none). */
static void payment_row(struct buf *b, const char *branch, const char *id, const struct payment *p, int64_t owner)
{
    char d[11], ts[32], num[24];
    fmt_date(d, p->date);
    fmt_time(ts, p->date, p->secs);
    snprintf(num, sizeof num, "%lld", (long long)owner);
    copy_field(b, branch, 1);
    copy_field(b, id, 0);
    copy_field(b, d, 0);
    buf_addc(b, '\t');
    buf_money(b, p->amount);
    copy_field(b, p->method, 0);
    copy_field(b, p->reference, 0);
    copy_field(b, p->note, 0);
    copy_field(b, ts, 0);
    copy_field(b, owner ? num : NULL, 0);
    buf_addc(b, '\n');
}

/* One snapshot row, as the core system's nightly feed loads it (no user). */
static void asset_row(struct buf *b, const char *branch, const char *id, const struct snap *s)
{
    char d[11], ts[32];
    fmt_date(d, s->date);
    fmt_time(ts, s->date, 20 * 3600);
    copy_field(b, branch, 1);
    copy_field(b, id, 0);
    copy_field(b, d, 0);
    buf_addc(b, '\t');
    buf_money(b, s->balance);
    copy_field(b, s->product, 0);
    copy_field(b, ts, 0);
    copy_field(b, ts, 0);
    buf_addc(b, '\n');
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    struct db *d = s->d;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->filled == 0 && !s->finished)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->filled == 0) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        struct job *j = &s->jobs[s->head];
        pthread_mutex_unlock(&s->mu);

        if (j->begin)
            exec(d->pg, "BEGIN");
        s->t_customers += copy_buffer(d->pg, CUSTOMER_COPY, &j->customers);
        if (d->replica)
            s->t_logs += copy_buffer(d->pg, CHANGE_LOG_COPY, &j->logs);
        s->t_txns += copy_buffer(d->pg, TXN_COPY, &j->txns);
        if (d->fu.on)
            s->t_followups += copy_buffer(d->pg, d->fu.sql, &j->followups);
        s->t_payments += copy_buffer(d->pg, PAYMENT_COPY, &j->payments);
        s->t_assets += copy_buffer(d->pg, ASSET_COPY, &j->assets);
        s->customers += j->count;
        s->txns += j->ntxns;
        s->followups += j->nfollowups;
        s->payments += j->npayments;
        s->assets += j->nassets;
        if (j->commit) {
            exec(d->pg, "COMMIT");
            double el = now_s() - s->start;
            fprintf(stderr,
                    "%s: %ld/%ld customers, %llu transactions, %llu follow-ups committed in %.1f s"
                    " (%.0f customers/s, %.0f transactions/s)\n",
                    prog, s->customers, s->total, (unsigned long long)s->txns, (unsigned long long)s->followups, el,
                    (double)s->customers / el, (double)s->txns / el);
        }

        pthread_mutex_lock(&s->mu);
        s->head = (s->head + 1) % NJOBS;
        s->filled--;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
}

/* A free job to fill (waits while all of them are queued). */
static struct job *sender_take(struct sender *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->filled == NJOBS)
        pthread_cond_wait(&s->cv, &s->mu);
    struct job *j = &s->jobs[(s->head + s->filled) % NJOBS];
    pthread_mutex_unlock(&s->mu);
    return j;
}

static void sender_push(struct sender *s)
{
    pthread_mutex_lock(&s->mu);
    s->filled++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void sender_finish(struct sender *s)
{
    pthread_mutex_lock(&s->mu);
    s->finished = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < NJOBS; i++) {
        free(s->jobs[i].customers.p);
        free(s->jobs[i].logs.p);
        free(s->jobs[i].txns.p);
        free(s->jobs[i].followups.p);
        free(s->jobs[i].payments.p);
        free(s->jobs[i].assets.p);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

/* Generates customers first..first+count-1 into j: the customer rows with
 * their search keys, the change log, the transactions and the follow-ups. */
static void fill_job(struct ctx *x, struct db *d, struct job *j, long first, long count, const int64_t *ids,
                     struct txnvec *tv, struct payvec *pv, struct tally *t)
{
    struct followup fus[64];
    struct snap snaps[MAX_SNAPS];
    struct cust c;
    char branch[24];
    snprintf(branch, sizeof branch, "%lld", (long long)d->branch_id);
    j->count = count;
    j->ntxns = j->nfollowups = j->npayments = j->nassets = 0;
    for (long i = 0; i < count; i++) {
        gen_customer(x, first + i, &c);
        gen_txns(x, &c, tv);
        c.revenue = sum_amounts(tv);
        struct credit_sum cs = gen_credit(x, &c, tv, pv);
        c.balance = cs.balance;
        int64_t aum;
        size_t ns = gen_assets(x, &c, snaps, &aum);
        tally_credit(t, &cs, pv->n, ns, aum);
        int64_t last = 0;
        if (d->fu.on) {
            size_t nf = gen_followups(x, &c, fus, sizeof fus / sizeof fus[0], &last);
            for (size_t k = 0; k < nf; k++)
                fu_row(&j->followups, &d->fu, &fus[k], ids[i], d->branch_id, c.owner_id);
            j->nfollowups += nf;
            t->followups += nf;
        }
        struct arena a = { 0 };
        struct cvalues v;
        values_of(&a, &c, &v);
        copy_customer(&j->customers, &a, &c, &v, ids[i], d->branch_id, last, &d->keys_s);
        arena_free(&a);
        tally_add(t, &c, tv);
        j->ntxns += tv->n;

        char id[24], created[32];
        snprintf(id, sizeof id, "%lld", (long long)ids[i]);
        if (d->replica) { /* what the trigger customer_changed would have logged */
            fmt_time(created, c.since, c.created_secs);
            const char *row[] = { branch, id, "customer", id, "created", c.name, "1", created };
            for (int k = 0; k < 8; k++)
                copy_field(&j->logs, row[k], k == 0);
            buf_addc(&j->logs, '\n');
        }
        for (size_t k = 0; k < tv->n; k++)
            txn_row(x, &j->txns, branch, id, &tv->v[k]);
        for (size_t k = 0; k < pv->n; k++)
            payment_row(&j->payments, branch, id, &pv->v[k], c.owner_id);
        for (size_t k = 0; k < ns; k++)
            asset_row(&j->assets, branch, id, &snaps[k]);
        j->npayments += pv->n;
        j->nassets += ns;
    }
}

static int run_db(struct ctx *x)
{
    /* the schema kehud expects, no less: kehud's own check (it refuses a
     * database that was never migrated, or not to the end) */
    char err[512];
    struct db d = { 0 };
    if (migrate_check(x->o.db, err, sizeof err) < 0 || !(d.pg = migrate_connect(x->o.db, err, sizeof err)))
        die("%s", err);
    db_prepare(x, &d);
    if (search_keys_init() < 0)
        die("ICU's transliterator is not available (search keys)");
    fprintf(stderr, "%s: loading %ld customers into branch '%s' (id %lld), owners: %zu, seed %llu\n", prog,
            x->o.customers, d.branch_name, (long long)d.branch_id, x->nowners, (unsigned long long)x->o.seed);
    int64_t *ids = reserve_ids(&d, x->o.customers);

    struct tally t = { 0 };
    t.revenues = xmalloc((size_t)x->o.customers * sizeof *t.revenues);
    struct txnvec tv = { 0 };
    struct payvec pv = { 0 };
    struct sender s = { .d = &d, .total = x->o.customers };
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    s.start = now_s();
    if (pthread_create(&s.thread, NULL, sender_main, &s) != 0)
        die("cannot start the sender thread");
    double gen_s = 0;
    for (long first = 1; first <= x->o.customers; first += x->o.batch) {
        long k = x->o.customers - first + 1 < x->o.batch ? x->o.customers - first + 1 : x->o.batch;
        for (long off = 0; off < k; off += CHUNK) {
            struct job *j = sender_take(&s);
            double g0 = now_s();
            long m = k - off < CHUNK ? k - off : CHUNK;
            fill_job(x, &d, j, first + off, m, ids + first - 1 + off, &tv, &pv, &t);
            j->begin = off == 0;
            j->commit = off + m == k;
            gen_s += now_s() - g0;
            sender_push(&s);
        }
    }
    sender_finish(&s);
    double load_s = now_s() - s.start;
    if (d.replica && x->o.customers > 0) {
        /* the search side table's trigger did not run: its rows, set-based
         * (sql/0035_search_side_table.sql) */
        double f0 = now_s();
        char first[24], last[24];
        snprintf(first, sizeof first, "%lld", (long long)ids[0]);
        snprintf(last, sizeof last, "%lld", (long long)ids[x->o.customers - 1]);
        const char *p[] = { first, last };
        PGresult *fr = q(d.pg, "SELECT customer_search_key_fill($1, $2)", 2, p);
        fprintf(stderr, "%s: %s search keys in the side table in %.1f s\n", prog, PQgetvalue(fr, 0, 0),
                now_s() - f0);
        PQclear(fr);
    }
    double a0 = now_s();
    exec(d.pg, d.fu.on ? "ANALYZE customer, customer_search_key, txn, change_log, followup, payment, asset_snapshot"
                       : "ANALYZE customer, customer_search_key, txn, change_log, payment, asset_snapshot");
    tally_print(&t, load_s);
    tally_print_credit(&t);
    fprintf(stderr,
            "%s: %.0f customers/s and %.0f transactions/s overall. Generating took %.1f s (search keys %.1f s,"
            " %.0f us per customer); meanwhile COPY took %.1f s for customers, %.1f s for the change log, %.1f s"
            " for transactions, %.1f s for follow-ups, %.1f s for payments, %.1f s for asset snapshots;"
            " ANALYZE %.1f s\n",
            prog, (double)t.customers / load_s, (double)t.txns / load_s, gen_s, d.keys_s,
            t.customers ? d.keys_s * 1e6 / (double)t.customers : 0.0, s.t_customers, s.t_logs, s.t_txns,
            s.t_followups, s.t_payments, s.t_assets, now_s() - a0);
    free(ids);
    free(t.revenues);
    free(tv.v);
    free(pv.v);
    free(d.branch_name);
    free(d.seq);
    PQfinish(d.pg);
    search_keys_shutdown();
    return 0;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kehu-seed (--db CONNINFO | --csv DIR) --customers N [options]\n"
            "  --txns-per-customer M       mean transactions per customer, long-tailed (default 10)\n"
            "  --followups-per-customer F  mean follow-ups per customer (default 1; --db, table followup)\n"
            "  (--db also loads sales on credit with their payments, and asset snapshots)\n"
            "  --seed S                    the same seed gives the same data (default 1)\n"
            "  --as-of DATE                the data's today, YYYY-MM-DD (default: today, UTC)\n"
            "  --since-years Y             transactions over the last Y years (default 5)\n"
            "  --branch UNIT               --db: the branch, by name or id (default: the first);\n"
            "                              --csv: its name (a city in it draws customers there)\n"
            "  --owners USER,...           owners, round-robin (--db default: the branch's account managers)\n"
            "  --batch K                   --db: customers per transaction (default 50000)\n"
            "  --gbk                       --csv: customers.csv in GB18030 with Chinese headers\n");
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "%s: %s must be a whole number from %ld to %ld\n", prog, what, lo, hi);
        exit(2);
    }
    return v;
}

static double parse_double(const char *s, const char *what, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= lo && v <= hi)) {
        fprintf(stderr, "%s: %s must be a number from %g to %g\n", prog, what, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    enum { O_DB = 1, O_CSV, O_CUSTOMERS, O_TXNS, O_FOLLOWUPS, O_SEED, O_BRANCH, O_OWNERS, O_SINCE, O_GBK, O_ASOF,
           O_BATCH, O_HELP };
    static const struct option longopts[] = {
        { "db", required_argument, NULL, O_DB },
        { "csv", required_argument, NULL, O_CSV },
        { "customers", required_argument, NULL, O_CUSTOMERS },
        { "txns-per-customer", required_argument, NULL, O_TXNS },
        { "followups-per-customer", required_argument, NULL, O_FOLLOWUPS },
        { "seed", required_argument, NULL, O_SEED },
        { "branch", required_argument, NULL, O_BRANCH },
        { "owners", required_argument, NULL, O_OWNERS },
        { "since-years", required_argument, NULL, O_SINCE },
        { "gbk", no_argument, NULL, O_GBK },
        { "as-of", required_argument, NULL, O_ASOF },
        { "batch", required_argument, NULL, O_BATCH },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    struct ctx x = { 0 };
    x.o.customers = -1;
    x.o.txns_per = 10;
    x.o.followups_per = 1;
    x.o.seed = 1;
    x.o.since_years = 5;
    x.o.batch = 50000;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    const int today = days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    x.o.as_of = today;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_DB: x.o.db = optarg; break;
        case O_CSV: x.o.csv_dir = optarg; break;
        case O_CUSTOMERS: x.o.customers = parse_long(optarg, "--customers", 0, MAX_CUSTOMERS - 1); break;
        case O_TXNS: x.o.txns_per = parse_double(optarg, "--txns-per-customer", 0, 1000); break;
        case O_FOLLOWUPS: x.o.followups_per = parse_double(optarg, "--followups-per-customer", 0, 20); break;
        case O_SEED: x.o.seed = (uint64_t)parse_long(optarg, "--seed", 0, 1000000000L); break;
        case O_BRANCH: x.o.branch = optarg; break;
        case O_OWNERS: x.o.owners = optarg; break;
        case O_SINCE: x.o.since_years = (int)parse_long(optarg, "--since-years", 1, 30); break;
        case O_GBK: x.o.gbk = 1; break;
        case O_BATCH: x.o.batch = parse_long(optarg, "--batch", 1, 1000000); break;
        case O_ASOF:
            if (parse_date(optarg, &x.o.as_of) < 0) {
                fprintf(stderr, "%s: --as-of must be a date, YYYY-MM-DD\n", prog);
                return 2;
            }
            break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !x.o.db == !x.o.csv_dir || x.o.customers < 0) {
        fprintf(stderr, "%s: give --db or --csv (one of them) and --customers\n", prog);
        usage(stderr);
        return 2;
    }
    if (x.o.as_of > today) {
        fprintf(stderr, "%s: --as-of must not be in the future (kehud refuses customers since a future date)\n", prog);
        return 2;
    }
    if (x.o.gbk && !x.o.csv_dir) {
        fprintf(stderr, "%s: --gbk goes with --csv\n", prog);
        return 2;
    }
    table_init_all();
    ctx_init(&x);
    if (x.o.csv_dir && x.o.owners) {
        char *list = strdup(x.o.owners), *save = NULL;
        for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
            x.owner_names = xrealloc(x.owner_names, (x.nowners + 1) * sizeof *x.owner_names);
            x.owner_names[x.nowners++] = strdup(u);
        }
        free(list);
    }
    int rc = x.o.csv_dir ? run_csv(&x) : run_db(&x);
    ctx_free(&x);
    table_free_all();
    u_cleanup();
    return rc;
}
