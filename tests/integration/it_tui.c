/* kehu-tui driven through tmux (send-keys, capture-pane) against a real
 * kehud: log in, find a Chinese customer by its initials, open it, edit a
 * field and see the server's refusal beside it, see a change made by a
 * second client appear, the help overlay, a resize, no line cut inside a
 * character at 80×24, and the connection coming back after kehud restarts —
 * in English (C.UTF-8) and again in Chinese (LANG=zh_CN.UTF-8); then as a
 * branch manager, in both languages, claiming from the pool, a user's due
 * list and a reassignment previewed (nothing moved) and confirmed, the owner
 * checked with kehud each time. My day shows a case past its deadline (to
 * li.lei, both languages) and, to the branch manager, a customer a recycle a
 * week ahead would send to the pool (an account manager sees no such block). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <locale.h>

#include "itest.h"

static char sock[64];      /* tmux -L: a server of the test's own */
static char pane[16384];   /* the last capture */
static struct it_org org;
static int64_t zsf, ls;    /* 张三丰's and 李四's ids */
static int64_t zl;         /* 赵六: untouched for 200 days, due to the pool */
static int64_t case_id;    /* 张三丰's case, past its deadline */
static PGconn *pg;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void capture(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s capture-pane -p -t tui 2>/dev/null", sock);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(pane, 1, sizeof pane - 1, p) : 0;
    pane[n] = '\0';
    if (p)
        pclose(p);
}

/* Waits (up to 20 s: a busy machine) for needle on the screen. */
static void wait_for(const char *needle)
{
    int64_t end = it_now_ms() + 20000;
    do {
        capture();
        if (strstr(pane, needle))
            return;
        usleep(100 * 1000);
    } while (it_now_ms() < end);
    fail_msg("'%s' never appeared on the screen:\n%s", needle, pane);
}

/* Waits for needle to leave the screen. */
static void wait_gone(const char *needle)
{
    int64_t end = it_now_ms() + 20000;
    do {
        capture();
        if (!strstr(pane, needle))
            return;
        usleep(100 * 1000);
    } while (it_now_ms() < end);
    fail_msg("'%s' stayed on the screen:\n%s", needle, pane);
}

static void keys(const char *k)
{
    sh("tmux -L %s send-keys -t tui %s", sock, k);
}

/* Every line of the capture is valid UTF-8 and at most cols columns wide. */
static void check_lines(int cols)
{
    const char *p = pane;
    int line = 1;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        mbstate_t st;
        memset(&st, 0, sizeof st);
        int width = 0;
        size_t i = 0;
        while (i < n) {
            wchar_t wc;
            size_t k = mbrtowc(&wc, p + i, n - i, &st);
            if (k == (size_t)-1 || k == (size_t)-2 || k == 0)
                fail_msg("line %d is not valid UTF-8 at byte %zu:\n%s", line, i, pane);
            if (wc == 0xFFFD)
                fail_msg("line %d holds a replacement character (a character cut in half):\n%s", line, pane);
            int w = wcwidth(wc);
            width += w > 0 ? w : 0;
            i += k;
        }
        if (width > cols)
            fail_msg("line %d is %d columns wide (terminal %d)", line, width, cols);
        p = end ? end + 1 : p + n;
        line++;
    }
}

static int64_t add_customer(kehu_client *c, const char *name, const char *phone)
{
    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    cu.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    cu.name = (char *)name;
    char *phones[] = { (char *)phone };
    cu.phones = phones;
    cu.n_phones = 1;
    cu.company = "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十有限公司";
    Kehu__V1__CustomerAdd m = KEHU__V1__CUSTOMER_ADD__INIT;
    m.customer = &cu;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &m;
    Kehu__V1__Response *r = it_call(c, &req, KEHU__V1__CODE__OK);
    int64_t id = r->customer->id;
    kehu_response_free(r);
    return id;
}

static void start_tui_as(const char *user, const char *lang, int cols, int rows)
{
    sh("tmux -L %s kill-server 2>/dev/null", sock);
    /* li.lei keeps the CLI's token store; another user a store of their own */
    char conf[512];
    if (strcmp(user, "li.lei") == 0)
        snprintf(conf, sizeof conf, "%s", it_kehu.dir);
    else
        snprintf(conf, sizeof conf, "%s/conf-%s", it_kehu.dir, user);
    sh("mkdir -p '%s'", conf);
    /* the language from LANG alone; the catalogue found beside the program
     * (bin/../share/locale), as the CLI finds it */
    int rc = sh("tmux -L %s -f /dev/null new-session -d -s tui -x %d -y %d "
                "\"env LANG=%s LC_ALL= LC_MESSAGES= LANGUAGE= TERM=xterm-256color XDG_CONFIG_HOME=%s KEHU_SERVER=%s "
                "KEHU_USER=%s KEHU_PASSWORD=%s %s; sleep 30\"",
                sock, cols, rows, lang, conf, it_server(), user, IT_PASSWORD, KEHU_TUI_BIN);
    assert_int_equal(rc, 0);
}

static void start_tui(const char *lang, int cols, int rows)
{
    start_tui_as("li.lei", lang, cols, rows);
}

/* One walk through the workspace, and what it says in one language. */
struct walk {
    const char *lang;
    const char *cases_head, *overdue, *pool_head;
    const char *my_day, *heading, *search, *customer, *profile, *contacts_tab, *edit_email, *refusal;
    const char *region, *changed, *help_title, *help_line, *offline, *back_online;
    const char *note_prompt, *note_keys, *note, *logged, *followups_tab;
    const char *sort_name, *sort_created, *grade_a, *grade_all, *status_active, *marked, *reassign, *refused;
    const char *assets_tab, *arrears, *cases_tab, *help_sort;
};

static const struct walk english = {
    .lang = "C.UTF-8",
    .cases_head = "Cases overdue or due within 24 hours", .overdue = "overdue ",
    .pool_head = "recycled to the pool",
    .my_day = "My day", .heading = "Churn warnings", .search = "Search:", .customer = "Customer",
    .profile = "Profile", .contacts_tab = "2 Contacts", .edit_email = "Edit email",
    .refusal = "is not an e-mail address", .region = "浦东新区", .changed = "wang.fang changed it just now",
    .help_title = "Keys", .help_line = "edit the field", .offline = "OFFLINE", .back_online = "back online",
    .note_prompt = "Follow-up note", .note_keys = "c a l l e d Enter", .note = "called",
    .logged = "follow-up logged", .followups_tab = "4 Follow-ups",
    .sort_name = "sort: name", .sort_created = "sort: created", .grade_a = "grade: A", .grade_all = "grade: all",
    .status_active = "status: active", .marked = "marked: 1", .reassign = "Reassign 1 customers",
    .refused = "Refused:", .assets_tab = "8 Assets", .arrears = "Arrears: 0.00", .cases_tab = "9 Cases",
    .help_sort = "sort: name, created",
};

static const struct walk chinese = {
    .lang = "zh_CN.UTF-8",
    .cases_head = "逾期或 24 小时内到期的工单", .overdue = "逾期 ", .pool_head = "即将回收到公海",
    .my_day = "我的一天", .heading = "流失预警", .search = "搜索：", .customer = "客户",
    .profile = "资料", .contacts_tab = "2 联系人", .edit_email = "编辑 email",
    .refusal = "不是电子邮箱地址", .region = "静安区", .changed = "wang.fang 刚刚修改了此项",
    .help_title = "按键", .help_line = "编辑该字段", .offline = "离线", .back_online = "已恢复连接",
    .note_prompt = "跟进记录", .note_keys = "v i s i t e d Enter", .note = "visited",
    .logged = "已记录跟进", .followups_tab = "4 跟进",
    .sort_name = "排序：名称", .sort_created = "排序：创建时间", .grade_a = "等级：A", .grade_all = "等级：全部",
    .status_active = "状态：正常", .marked = "已选：1", .reassign = "改派 1 个客户",
    .refused = "被拒绝：", .assets_tab = "8 资产", .arrears = "欠款：0.00", .cases_tab = "9 工单",
    .help_sort = "排序：名称",
};

static void walk(const struct walk *w)
{
    start_tui(w->lang, 80, 24);
    wait_for(w->my_day);
    wait_for(w->heading);
    wait_for("li.lei@");
    check_lines(80);
    /* my cases past their deadline; no pool block for an account manager
     * (kehud refuses li.lei the recycle dry run, and nothing is said of it) */
    keys("G");
    wait_for(w->cases_head);
    char want[64];
    snprintf(want, sizeof want, "#%-5lld %s", (long long)case_id, w->overdue);
    wait_for(want);
    wait_for("柜台排队太久");
    assert_null(strstr(pane, w->pool_head));
    check_lines(80);
    keys("g");

    /* the list: sort and filters cycle, shown in its header, the list asked again */
    keys("l");
    wait_for(w->sort_name);
    wait_for("张三丰");
    check_lines(80);
    keys("s");
    wait_for(w->sort_created);
    keys("a");
    wait_for(w->grade_a);
    wait_gone("张三丰"); /* no grading has run: no A customers */
    keys("a a a a");
    wait_for(w->grade_all);
    wait_for("张三丰");
    keys("t");
    wait_for(w->status_active);
    wait_for("张三丰");
    check_lines(80);
    keys("?");
    wait_for(w->help_sort);
    check_lines(80);
    keys("Space");
    /* space marks; R reassigns: an account manager may not, and kehud says so */
    keys("Space");
    wait_for(w->marked);
    keys("R");
    wait_for(w->reassign);
    keys("z h a n g . w e i Enter l e a v e Enter");
    wait_for(w->refused);
    check_lines(80);
    keys("Escape q");
    wait_for(w->heading);

    /* '/' searches as you type: the initials find 张三丰 */
    keys("/");
    wait_for(w->search);
    keys("z s f");
    wait_for("张三丰");
    /* the search, not the whole list '/' showed before the first key */
    wait_gone("李四");
    capture();
    assert_non_null(strstr(pane, "张三丰"));
    check_lines(80);

    /* Enter leaves the query, Enter opens the customer */
    keys("Enter");
    keys("Enter");
    wait_for(w->profile);
    wait_for("13800138001");
    wait_for(w->contacts_tab);
    capture();
    assert_non_null(strstr(pane, w->customer));
    check_lines(80);

    /* an edit the server refuses: its message, in the user's language, beside the field */
    keys("j j e");
    wait_for(w->edit_email);
    keys("n o t - a n - e m a i l Enter");
    wait_for("←");
    wait_for(w->refusal);
    capture();
    assert_non_null(strstr(pane, "email"));
    check_lines(80);
    keys("Escape");
    wait_gone(w->edit_email);

    /* a change made by a second client appears by itself */
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT;
    fv.field = "region";
    fv.value = (char *)w->region;
    Kehu__V1__FieldValue *set[] = { &fv };
    Kehu__V1__CustomerEdit e = KEHU__V1__CUSTOMER_EDIT__INIT;
    e.id = zsf;
    e.set = set;
    e.n_set = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    req.customer_edit = &e;
    kehu_response_free(it_call(org.mgr, &req, KEHU__V1__CODE__OK));
    wait_for(w->region);
    wait_for(w->changed);
    check_lines(80);

    /* the help overlay lists the keys */
    keys("?");
    wait_for(w->help_title);
    wait_for(w->help_line);
    check_lines(80);
    keys("Space");

    /* resizing redraws at the new size */
    sh("tmux -L %s resize-window -t tui -x 100 -y 30", sock);
    wait_for(w->region);
    check_lines(100);

    /* kehud goes away: offline; it comes back: online, the customer shown again */
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(th_kehud_wait(&it_env, 15000), 0);
    wait_for(w->offline);
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    wait_for(w->back_online);
    wait_for(w->region);

    /* a follow-up in a few keystrokes */
    keys("f");
    wait_for(w->note_prompt);
    keys(w->note_keys);
    wait_for(w->logged);
    keys("4");
    wait_for(w->followups_tab);
    wait_for(w->note);
    check_lines(100);

    /* assets and arrears, and cases: tabs 8 and 9 */
    keys("8");
    wait_for(w->assets_tab);
    wait_for(w->arrears);
    check_lines(100);
    keys("9");
    wait_for(w->cases_tab);
    sh("tmux -L %s resize-window -t tui -x 80 -y 24", sock);
    wait_for(w->cases_tab);
    check_lines(80);

    keys("q q q");
    sh("tmux -L %s kill-server 2>/dev/null", sock);
}

/* The customer's owner, as kehud has it. */
static void assert_owner(int64_t id, const char *owner)
{
    Kehu__V1__CustomerGet g = KEHU__V1__CUSTOMER_GET__INIT;
    g.id = id;
    Kehu__V1__Request rg = KEHU__V1__REQUEST__INIT;
    rg.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    rg.customer_get = &g;
    Kehu__V1__Response *r = it_call(org.mgr, &rg, KEHU__V1__CODE__OK);
    assert_string_equal(r->customer->owner, owner);
    kehu_response_free(r);
}

/* li.lei releases the customer to the pool. */
static void release(int64_t id, const char *reason)
{
    Kehu__V1__PoolRelease pr = KEHU__V1__POOL_RELEASE__INIT;
    pr.customer_id = id;
    pr.reason = (char *)reason;
    Kehu__V1__Request rq = KEHU__V1__REQUEST__INIT;
    rq.op_case = KEHU__V1__REQUEST__OP_POOL_RELEASE;
    rq.pool_release = &pr;
    kehu_response_free(it_call(org.li, &rq, KEHU__V1__CODE__OK));
}

static void manager(void)
{
    /* 王五 released to the pool by its owner; a follow-up planned for li.lei */
    int64_t ww = 0;
    {
        Kehu__V1__CustomerSearch m = KEHU__V1__CUSTOMER_SEARCH__INIT;
        m.text = "王五";
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
        req.customer_search = &m;
        Kehu__V1__Response *r = it_call(org.li, &req, KEHU__V1__CODE__OK);
        assert_true(r->customers && r->customers->n_customers >= 1);
        ww = r->customers->customers[0]->id;
        kehu_response_free(r);
        release(ww, "moved away");
        Kehu__V1__FollowupPlan fp = KEHU__V1__FOLLOWUP_PLAN__INIT;
        fp.customer_id = zsf;
        fp.kind = "visit";
        fp.note = "bring the forms";
        char due[16];
        time_t t = time(NULL) + 86400;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(due, sizeof due, "%Y-%m-%d", &tm);
        fp.due = due;
        Kehu__V1__Request rp = KEHU__V1__REQUEST__INIT;
        rp.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_PLAN;
        rp.followup_plan = &fp;
        kehu_response_free(it_call(org.li, &rp, KEHU__V1__CODE__OK));
    }
    start_tui_as("wang.fang", "C.UTF-8", 80, 24);
    wait_for("My day");
    wait_for("wang.fang@");
    /* 赵六, untouched for 200 days, is named by a recycle a week ahead */
    keys("G");
    wait_for(english.pool_head);
    wait_for("赵六  li.lei (no purchase)");
    check_lines(80);
    keys("g");

    /* the pool: 王五 there, c claims it */
    keys("p");
    wait_for("The pool");
    wait_for("王五");
    wait_for("moved away");
    check_lines(80);
    keys("c");
    wait_for("claimed 王五");
    wait_gone("moved away");
    keys("q");
    wait_for("My day");

    /* li.lei's due list, chosen by name */
    keys("t");
    wait_for("Due list of (username): wang.fang");
    keys("u BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace l i . l e i Enter");
    wait_for("bring the forms");
    wait_for("张三丰");
    check_lines(80);
    keys("q");
    wait_for("My day");

    /* reassigning: mark 张三丰, preview (nothing moved), y moves it */
    keys("/");
    keys("z s f");
    wait_for("张三丰");
    wait_gone("李四");
    keys("Enter Space");
    wait_for("marked: 1");
    keys("R");
    wait_for("Reassign 1 customers");
    keys("n o . s u c h . u s e r Enter l e a v e Enter");
    wait_for("Refused:");
    keys("BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace");
    keys("z h a n g . w e i Enter Enter");
    wait_for("Preview (nothing moved yet): 1 customers would move");
    wait_for("li.lei → zhang.wei");
    check_lines(80);
    assert_owner(zsf, "li.lei"); /* the preview moved nothing */
    keys("y");
    wait_for("Moved 1 customers");
    assert_owner(zsf, "zhang.wei");
    keys("?");
    wait_for("move them (after the preview)");
    check_lines(80);
    keys("Space q q q");
    sh("tmux -L %s kill-server 2>/dev/null", sock);

    /* the same in Chinese: claiming 李四 from the pool (公海, 认领), the due
     * list, the help, and 张三丰 reassigned back to li.lei, previewed first */
    release(ls, "搬走了");
    start_tui_as("wang.fang", "zh_CN.UTF-8", 80, 24);
    wait_for("我的一天");
    keys("G");
    wait_for(chinese.pool_head);
    wait_for("赵六  li.lei (无交易)");
    check_lines(80);
    /* a small screen: the blocks scroll, and a line ends before a character
     * it would cut (29 columns end inside the heading's last 全角 bracket) */
    sh("tmux -L %s resize-window -t tui -x 29 -y 10", sock);
    keys("G");
    wait_for("赵六");
    wait_for("即将回收到公海的客户（7 天内");
    check_lines(29);
    sh("tmux -L %s resize-window -t tui -x 80 -y 24", sock);
    keys("g p");
    wait_for("公海：无归属人的客户");
    wait_for("搬走了");
    check_lines(80);
    keys("?");
    wait_for("认领该客户");
    check_lines(80);
    keys("Space c");
    wait_for("已认领 李四：现归您所有");
    wait_gone("搬走了");
    check_lines(80);
    assert_owner(ls, "wang.fang");
    keys("q t");
    wait_for("待办联系，用户（用户名）： wang.fang");
    check_lines(80);
    keys("q /");
    keys("z s f");
    wait_for("张三丰");
    wait_gone("王五");
    keys("Enter Space");
    wait_for("已选：1");
    keys("R");
    wait_for("改派 1 个客户");
    wait_for("接收人（用户名）：");
    keys("l i . l e i Enter 调岗 Enter");
    wait_for("预览（尚未改派）：将改派 1 个客户");
    wait_for("zhang.wei → li.lei");
    wait_for("y：确认改派");
    check_lines(80);
    assert_owner(zsf, "zhang.wei"); /* the preview moved nothing */
    keys("y");
    wait_for("已改派 1 个客户");
    check_lines(80);
    assert_owner(zsf, "li.lei");
    keys("q q q");
    sh("tmux -L %s kill-server 2>/dev/null", sock);
}

static void test_workspace(void **state)
{
    (void)state;
    it_org_build(&org);
    zsf = add_customer(org.li, "张三丰", "13800138001");
    ls = add_customer(org.li, "李四", "13800138002");
    add_customer(org.li, "王五", "13800138003");
    zl = add_customer(org.li, "赵六", "13800138004");
    pg = it_pg_open();
    char sql[512];
    {
        /* a case of 张三丰's, handled by li.lei, its deadlines passed */
        Kehu__V1__CaseOpen m = KEHU__V1__CASE_OPEN__INIT;
        m.customer_id = zsf;
        m.nature = "complaint";
        m.kind = "service";
        m.severity = 2;
        m.channel = "phone";
        m.title = "柜台排队太久";
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CASE_OPEN;
        req.case_open = &m;
        Kehu__V1__Response *r = it_call(org.li, &req, KEHU__V1__CODE__OK);
        case_id = r->case_->id;
        kehu_response_free(r);
        snprintf(sql, sizeof sql,
                 "UPDATE service_case SET handler_id = (SELECT id FROM app_user WHERE username = 'li.lei'),"
                 " respond_warn = now() - interval '4 hours', respond_by = now() - interval '3 hours',"
                 " resolve_warn = now() - interval '2 hours', resolve_by = now() - interval '1 hour'"
                 " WHERE id = %lld",
                 (long long)case_id);
        it_pg_do(pg, sql);
    }

    walk(&english);
    /* the second client's connection went with the kehud the walk restarted */
    struct kehu_status st;
    assert_int_equal(kehu_reconnect(org.mgr, &st), 0);
    /* the same walk in Chinese: titles, tabs, headings, status and help
     * from the catalogue, kehud's refusals in Chinese (Hello.language) */
    walk(&chinese);

    /* a branch manager: the pool, claiming; reassigning with a preview; a user's due list
     * (the test's own connections went with the kehud the walk restarted) */
    assert_int_equal(kehu_reconnect(org.mgr, &st), 0);
    assert_int_equal(kehu_reconnect(org.li, &st), 0);
    /* 赵六 owned, and the rules in force, since 200 days ago: past the limits */
    it_pg_do(pg, "UPDATE pool_rule SET updated_at = now() - interval '200 days'");
    snprintf(sql, sizeof sql,
             "UPDATE customer SET created_at = now() - interval '200 days' WHERE id = %lld;"
             " UPDATE customer SET last_contact_at = now() - interval '200 days' WHERE id = %lld;"
             " UPDATE assignment_history SET at = now() - interval '200 days' WHERE customer_id = %lld",
             (long long)zl, (long long)zl, (long long)zl);
    it_pg_do(pg, sql);
    manager();

    /* a machine where zh_CN.UTF-8 was never generated: still Chinese, still
     * whole characters (kehu_i18n_init falls back to C.UTF-8 and LANGUAGE) */
    start_tui("zh_CN.KEHU-NOT-GENERATED", 80, 24);
    wait_for("我的一天");
    wait_for("流失预警");
    check_lines(80);
    keys("?");
    wait_for("按键");
    check_lines(80);
    keys("Space q");
    sh("tmux -L %s kill-server 2>/dev/null", sock);
    PQfinish(pg);
    it_org_close(&org);
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    snprintf(sock, sizeof sock, "kehu-it-%d", (int)getpid());
    if (sh("command -v tmux >/dev/null") != 0) {
        fprintf(stderr, "it_tui: tmux is missing (scripts/deps installs it)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workspace),
    };
    int failed = cmocka_run_group_tests(tests, it_cli_setup, it_cli_teardown);
    sh("tmux -L %s kill-server 2>/dev/null", sock);
    return it_finish(failed);
}
