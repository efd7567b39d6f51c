/* Status codes to text: the one place where ezrt errors get words, so the Python driver and
 * the JIT-compiled program report failures the same way. */
#include "ezrt.h"

const char *ezrt_strerror(ezrt_status status)
{
    switch (status) {
    case EZRT_OK:
        return "success";
    case EZRT_EINVAL:
        return "invalid argument";
    case EZRT_ELENGTH:
        return "buffer length does not match";
    case EZRT_ERANDOM:
        return "the operating system's random number generator failed";
    case EZRT_ENOCPU:
        return "this CPU lacks AES-NI or SSE4.1, which the runtime requires";
    case EZRT_ENOMEM:
        return "out of memory";
    case EZRT_EIO:
        return "input/output error";
    case EZRT_EPEER:
        return "the peer closed the connection";
    case EZRT_ETIMEOUT:
        return "timed out";
    case EZRT_EPROTOCOL:
        return "protocol violation by the peer";
    case EZRT_EUNINIT:
        return "context used before initialisation";
    default:
        return "unknown ezrt status";
    }
}
