/*
 * copyrow.h — rows of COPY … TO STDOUT in text format, as the values
 * pgoutput would send for them (the snapshot reads tables this way).
 */
#ifndef SLUICE_COPYROW_H
#define SLUICE_COPYROW_H

#include "sluice/base/buf.h"
#include "sluice/base/common.h"
#include "sluice/pg/pgoutput.h"

/*
 * Splits one row of COPY … TO STDOUT text format (tab-separated, "\N" for
 * NULL, backslash escapes, a trailing newline) into ncols values in the form
 * pgoutput sends: text values or NULLs. The unescaped text lives in scratch,
 * which is reset; values point into it until the next call. Returns false
 * with a reason in err when the row does not have ncols fields or ends in a
 * lone backslash.
 */
bool copyrow_decode(const char *row, size_t len, pgo_value_t *values, uint16_t ncols,
                              strbuf_t *scratch, char *err, size_t errlen);

#endif
