/*
 * err.c -- the one vocabulary of failures: each error's HTTP status,
 * reason phrase and default sentence.
 */
#include "config.h"

#include "chatr.h"

static const struct {
	int status;
	const char *reason;
	const char *text;
} errs[CH_ERR__MAX] = {
	[CH_ERR_OK] = {200, "OK", "ok"},
	[CH_ERR_INVAL] = {400, "Bad Request", "The request is not valid."},
	[CH_ERR_AUTH] = {401, "Unauthorized",
	    "Missing or invalid API key. Send Authorization: Bearer YOUR_API_KEY."},
	[CH_ERR_FORBIDDEN] = {403, "Forbidden", "This is not allowed."},
	[CH_ERR_NOTFOUND] = {404, "Not Found", "No such endpoint."},
	[CH_ERR_METHOD] = {405, "Method Not Allowed",
	    "This method is not allowed here."},
	[CH_ERR_CONFLICT] = {409, "Conflict", "That is already taken."},
	[CH_ERR_TOOBIG] = {413, "Payload Too Large",
	    "The request body is too large (at most 16384 bytes)."},
	[CH_ERR_MEDIA] = {415, "Unsupported Media Type",
	    "The request body must be JSON: send Content-Type: "
	    "application/json."},
	[CH_ERR_LIMIT] = {429, "Too Many Requests",
	    "Rate limit exceeded. Try again later."},
	[CH_ERR_INTERNAL] = {500, "Internal Server Error",
	    "Internal server error. Try again later."},
	[CH_ERR_UPSTREAM] = {502, "Bad Gateway",
	    "The upstream service failed."},
	[CH_ERR_UNAVAIL] = {503, "Service Unavailable",
	    "The service is busy. Try again shortly."},
};

static enum ch_err
err_clamp(enum ch_err e)
{
	return (unsigned)e < CH_ERR__MAX ? e : CH_ERR_INTERNAL;
}

/* HTTP status of an error. */
int
ch_err_status(enum ch_err e)
{
	return errs[err_clamp(e)].status;
}

/* HTTP reason phrase of an error. */
const char *
ch_err_reason(enum ch_err e)
{
	return errs[err_clamp(e)].reason;
}

/* Default sentence of an error. */
const char *
ch_err_text(enum ch_err e)
{
	return errs[err_clamp(e)].text;
}
