/* csv: one line of comma-separated values, split in place.
 *
 * RFC 4180 fields: a field may be quoted, a doubled quote inside stands for
 * one quote; empty fields are kept. Lines are split one at a time, so a
 * quoted field cannot hold a newline (none of the files we read needs it). */
#ifndef CS_BASE_CSV_H
#define CS_BASE_CSV_H

/* Splits line in place into fields (quotes removed) and returns how many
 * there are, or -1 when there are more than max. */
int cs_csv_split(char *line, char **fields, int max);

#endif
