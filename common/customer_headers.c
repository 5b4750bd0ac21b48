#include "customer_headers.h"

#include <string.h>
#include <strings.h>

/* Every spelling of a field, its own name among them. */
const struct customer_header customer_headers[] = {
    { "name", "name" },
    { "姓名", "name" },
    { "客户名称", "name" },
    { "名称", "name" },
    { "客户姓名", "name" },
    { "kind", "kind" },
    { "类型", "kind" },
    { "客户类型", "kind" },
    { "ext_ref", "ext_ref" },
    { "external_ref", "ext_ref" },
    { "客户编号", "ext_ref" },
    { "编号", "ext_ref" },
    { "gender", "gender" },
    { "性别", "gender" },
    { "birth", "birth" },
    { "birthday", "birth" },
    { "出生日期", "birth" },
    { "生日", "birth" },
    { "id_number", "id_number" },
    { "证件号码", "id_number" },
    { "身份证号", "id_number" },
    { "身份证", "id_number" },
    { "phone", "phones" },
    { "phones", "phones" },
    { "mobile", "phones" },
    { "电话", "phones" },
    { "手机", "phones" },
    { "手机号", "phones" },
    { "联系电话", "phones" },
    { "email", "email" },
    { "e-mail", "email" },
    { "邮箱", "email" },
    { "电子邮箱", "email" },
    { "company", "company" },
    { "公司", "company" },
    { "单位", "company" },
    { "工作单位", "company" },
    { "address", "address" },
    { "地址", "address" },
    { "region", "region" },
    { "地区", "region" },
    { "区域", "region" },
    { "城市", "region" },
    { "industry", "industry" },
    { "行业", "industry" },
    { "size", "size" },
    { "规模", "size" },
    { "企业规模", "size" },
    { "occupation", "occupation" },
    { "职业", "occupation" },
    { "source", "source" },
    { "来源", "source" },
    { "客户来源", "source" },
    { "tags", "tags" },
    { "tag", "tags" },
    { "标签", "tags" },
    { "notes", "notes" },
    { "备注", "notes" },
    { "since", "since" },
    { "建档日期", "since" },
    { "开户日期", "since" },
    { "owner", "owner" },
    { "客户经理", "owner" },
    { "branch", "branch" },
    { "网点", "branch" },
    { "分行", "branch" },
    { "所属机构", "branch" },
};
const size_t customer_headers_count = sizeof customer_headers / sizeof customer_headers[0];

const char *customer_header_field(const char *label)
{
    while (*label == ' ' || *label == '\t')
        label++;
    size_t n = strlen(label);
    while (n > 0 && (label[n - 1] == ' ' || label[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < customer_headers_count; i++)
        if (strlen(customer_headers[i].label) == n && strncasecmp(customer_headers[i].label, label, n) == 0)
            return customer_headers[i].field;
    return NULL;
}

/* An export's columns under their Chinese headers (the language of the
 * client that asked for the export, docs/i18n.md). */
static const struct customer_header export_labels[] = {
    { "系统编号", "id" },           { "客户编号", "ext_ref" },     { "客户名称", "name" },
    { "客户类型", "kind" },         { "性别", "gender" },          { "出生日期", "birth" },
    { "证件号码", "id_number" },    { "电话", "phones" },          { "邮箱", "email" },
    { "公司", "company" },          { "地址", "address" },         { "地区", "region" },
    { "行业", "industry" },         { "规模", "size" },            { "职业", "occupation" },
    { "客户来源", "source" },       { "标签", "tags" },            { "备注", "notes" },
    { "客户经理", "owner" },        { "所属机构", "branch" },      { "建档日期", "since" },
    { "状态", "status" },           { "交易额", "revenue" },       { "欠款余额", "balance" },
    { "创建时间", "created_at" },   { "更新时间", "updated_at" },  { "版本", "version" },
    { "最近联系", "last_contact" }, { "ABC等级", "grade_abc" },    { "交易量等级", "grade_volume" },
    { "价值层级", "grade_value_tier" }, { "资产层级", "grade_asset_tier" }, { "生命周期", "grade_lifecycle" },
    { "信用等级", "grade_credit" }, { "需求等级", "grade_needs" }, { "潜力等级", "grade_potential" },
    { "影响力等级", "grade_influence" },
};

const char *customer_export_label_zh(const char *column)
{
    for (size_t i = 0; i < sizeof export_labels / sizeof export_labels[0]; i++)
        if (strcmp(export_labels[i].field, column) == 0)
            return export_labels[i].label;
    return NULL;
}

const char *customer_export_column(const char *label)
{
    while (*label == ' ' || *label == '\t')
        label++;
    size_t n = strlen(label);
    while (n > 0 && (label[n - 1] == ' ' || label[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < sizeof export_labels / sizeof export_labels[0]; i++)
        if (strlen(export_labels[i].label) == n && strncmp(export_labels[i].label, label, n) == 0)
            return export_labels[i].field;
    return NULL;
}
