/*
 * copyrow.c — COPY text rows split into pgoutput-style values (copyrow.h).
 */
#include "sluice/pg/copyrow.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * A text row is never shorter than its unescaped values (an escape is two to
 * four bytes for one), so scratch is reserved once for the whole row and
 * written through a plain pointer: no capacity check per byte. Runs of bytes
 * without a backslash or a tab (most of every row) are copied whole.
 */
bool copyrow_decode(const char *row, size_t len, pgo_value_t *values, uint16_t ncols,
                    strbuf_t *scratch, char *err, size_t errlen)
{
    if (len > 0 && row[len - 1] == '\n')
        len--;
    strbuf_reset(scratch);
    strbuf_reserve(scratch, len + 1);
    char *const base = scratch->data;
    char *o = base;
    /* Offsets first: values point into scratch only once the row is whole. */
    size_t starts[ncols ? ncols : 1];
    uint16_t field = 0;
    size_t i = 0;
    for (;;) {
        if (field >= ncols) {
            snprintf(err, errlen, "COPY row has more than the %u fields expected", ncols);
            return false;
        }
        if (i + 2 <= len && row[i] == '\\' && row[i + 1] == 'N' && (i + 2 == len || row[i + 2] == '\t')) {
            values[field].kind = PGO_VALUE_NULL;
            values[field].len = 0;
            starts[field] = SIZE_MAX;
            i += 2;
        } else {
            values[field].kind = PGO_VALUE_TEXT;
            starts[field] = (size_t) (o - base);
            while (i < len && row[i] != '\t') {
                size_t run = i;
                while (run < len && row[run] != '\t' && row[run] != '\\')
                    run++;
                if (run > i) {
                    memcpy(o, row + i, run - i);
                    o += run - i;
                    i = run;
                    continue;
                }
                i++; /* the backslash */
                if (i >= len) {
                    snprintf(err, errlen, "COPY row ends in a lone backslash");
                    return false;
                }
                char c = row[i++];
                switch (c) {
                case 'b': *o++ = '\b'; break;
                case 'f': *o++ = '\f'; break;
                case 'n': *o++ = '\n'; break;
                case 'r': *o++ = '\r'; break;
                case 't': *o++ = '\t'; break;
                case 'v': *o++ = '\v'; break;
                case 'x':
                    if (i < len && isxdigit((unsigned char) row[i])) {
                        int v = 0;
                        for (int k = 0; k < 2 && i < len && isxdigit((unsigned char) row[i]); k++, i++)
                            v = v * 16 + (isdigit((unsigned char) row[i]) ? row[i] - '0'
                                                                          : (tolower((unsigned char) row[i]) - 'a' + 10));
                        *o++ = (char) v;
                    } else {
                        *o++ = 'x';
                    }
                    break;
                default:
                    if (c >= '0' && c <= '7') {
                        int v = c - '0';
                        for (int k = 0; k < 2 && i < len && row[i] >= '0' && row[i] <= '7'; k++, i++)
                            v = v * 8 + (row[i] - '0');
                        *o++ = (char) (v & 0xff);
                    } else {
                        *o++ = c; /* \\ and any other escaped character */
                    }
                }
            }
            values[field].len = (uint32_t) ((size_t) (o - base) - starts[field]);
        }
        field++;
        if (i >= len)
            break;
        i++; /* the tab */
        if (i == len) {
            /* A trailing tab: one more, empty field. */
            if (field >= ncols) {
                snprintf(err, errlen, "COPY row has more than the %u fields expected", ncols);
                return false;
            }
            values[field].kind = PGO_VALUE_TEXT;
            values[field].len = 0;
            starts[field] = (size_t) (o - base);
            field++;
            break;
        }
    }
    if (field != ncols) {
        snprintf(err, errlen, "COPY row has %u fields, expected %u", field, ncols);
        return false;
    }
    *o = '\0';
    scratch->len = (size_t) (o - base);
    for (uint16_t f = 0; f < ncols; f++)
        values[f].data = starts[f] == SIZE_MAX ? NULL : base + starts[f];
    return true;
}
