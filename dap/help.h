/* help.h - kdap's manual: one text, two renderings.
 *
 * The manual (synopsis, options, commands, the attach configuration
 * reference, environment) is written once, in help.c.  `kdap --help`
 * prints it as plain text; `kdap --man` prints it as a man page (roff),
 * which the build turns into kdap.1, so the help and the man page can
 * never disagree.
 */
#ifndef KDAP_HELP_H
#define KDAP_HELP_H

#include <stdio.h>

enum dap_help_format {
    DAP_HELP_TEXT, /* for a terminal: --help */
    DAP_HELP_MAN,  /* roff for man(1): --man */
};

/* Write the manual to fp.  Returns 0, or -EIO when writing failed. */
int dap_help_write(FILE *fp, enum dap_help_format format);

#endif
