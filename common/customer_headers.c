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
