/* pt_err.c — names and messages for the error list in pt_err.h. */
#include "pt_err.h"

const char *pt_err_name(int err)
{
    switch (err) {
#define PT_ERR_NAME_(name, value, msg)                                         \
    case value:                                                                \
        return "PT_ERR_" #name;
        PT_ERR_MAP(PT_ERR_NAME_)
#undef PT_ERR_NAME_
    default:
        return "PT_ERR_UNKNOWN";
    }
}

const char *pt_strerror(int err)
{
    switch (err) {
#define PT_ERR_MSG_(name, value, msg)                                          \
    case value:                                                                \
        return msg;
        PT_ERR_MAP(PT_ERR_MSG_)
#undef PT_ERR_MSG_
    default:
        return "unknown error";
    }
}
