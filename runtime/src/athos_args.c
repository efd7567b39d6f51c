/* Checking the public arguments of the Athos tensor functions: sizes, counts and array lengths,
 * with messages that name the argument. Every role gets the same public arguments, so all
 * three reject a bad call at once, before anything is sent. */
#include <stdarg.h>
#include <stdio.h>

#include "athos_internal.h"

ezrt_status ezrt_athos_reject(ezrt_athos_args *a, ezrt_status status, const char *fmt, ...)
{
    if (a->st != EZRT_OK)
        return a->st;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    a->st = ezrt_sess_reject(a->s, a->op, status, what);
    return a->st;
}

size_t ezrt_athos_size(ezrt_athos_args *a, const char *name, int64_t v)
{
    if (v >= 0)
        return (size_t)v;
    ezrt_athos_reject(a, EZRT_EINVAL, "size `%s` is %lld, which is negative", name, (long long)v);
    return 0;
}

size_t ezrt_athos_positive(ezrt_athos_args *a, const char *name, int64_t v)
{
    if (v >= 1)
        return (size_t)v;
    ezrt_athos_reject(a, EZRT_EINVAL, "`%s` is %lld, but it must be at least 1", name,
                      (long long)v);
    return 1;
}

size_t ezrt_athos_mul(ezrt_athos_args *a, size_t x, size_t y)
{
    size_t p = ezrt_sess_mul_size(x, y);
    if (p == SIZE_MAX || ezrt_sess_mul_size(p, sizeof(uint64_t)) == SIZE_MAX) {
        ezrt_athos_reject(a, EZRT_ELENGTH, "the sizes overflow");
        return 0;
    }
    return p;
}

void ezrt_athos_array(ezrt_athos_args *a, const char *name, const uint64_t *arr, size_t len,
                      size_t expected)
{
    if (len != expected)
        ezrt_athos_reject(a, EZRT_ELENGTH,
                          "`%s` has %zu elements, but the other arguments make it %zu", name,
                          len, expected);
    else if (arr == NULL && expected > 0)
        ezrt_athos_reject(a, EZRT_EINVAL, "`%s` is NULL", name);
}
