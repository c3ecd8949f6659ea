/*
 * copyrow.c — COPY text rows split into pgoutput-style values (copyrow.h).
 */
#include "sluice/pg/copyrow.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

bool copyrow_decode(const char *row, size_t len, pgo_value_t *values, uint16_t ncols,
                              strbuf_t *scratch, char *err, size_t errlen)
{
    if (len > 0 && row[len - 1] == '\n')
        len--;
    strbuf_reset(scratch);
    strbuf_reserve(scratch, len + 1);
    /* Offsets first: scratch must not move once values point into it. */
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
            starts[field] = scratch->len;
            while (i < len && row[i] != '\t') {
                char c = row[i++];
                if (c != '\\') {
                    strbuf_putc(scratch, c);
                    continue;
                }
                if (i >= len) {
                    snprintf(err, errlen, "COPY row ends in a lone backslash");
                    return false;
                }
                c = row[i++];
                switch (c) {
                case 'b': strbuf_putc(scratch, '\b'); break;
                case 'f': strbuf_putc(scratch, '\f'); break;
                case 'n': strbuf_putc(scratch, '\n'); break;
                case 'r': strbuf_putc(scratch, '\r'); break;
                case 't': strbuf_putc(scratch, '\t'); break;
                case 'v': strbuf_putc(scratch, '\v'); break;
                case 'x':
                    if (i < len && isxdigit((unsigned char) row[i])) {
                        int v = 0;
                        for (int k = 0; k < 2 && i < len && isxdigit((unsigned char) row[i]); k++, i++)
                            v = v * 16 + (isdigit((unsigned char) row[i]) ? row[i] - '0'
                                                                          : (tolower((unsigned char) row[i]) - 'a' + 10));
                        strbuf_putc(scratch, (char) v);
                    } else {
                        strbuf_putc(scratch, 'x');
                    }
                    break;
                default:
                    if (c >= '0' && c <= '7') {
                        int v = c - '0';
                        for (int k = 0; k < 2 && i < len && row[i] >= '0' && row[i] <= '7'; k++, i++)
                            v = v * 8 + (row[i] - '0');
                        strbuf_putc(scratch, (char) (v & 0xff));
                    } else {
                        strbuf_putc(scratch, c); /* \\ and any other escaped character */
                    }
                }
            }
            values[field].len = (uint32_t) (scratch->len - starts[field]);
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
            starts[field] = scratch->len;
            field++;
            break;
        }
    }
    if (field != ncols) {
        snprintf(err, errlen, "COPY row has %u fields, expected %u", field, ncols);
        return false;
    }
    strbuf_putc(scratch, '\0');
    for (uint16_t f = 0; f < ncols; f++)
        values[f].data = starts[f] == SIZE_MAX ? NULL : scratch->data + starts[f];
    return true;
}

