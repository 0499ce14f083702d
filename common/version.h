/* The version every kiln binary reports. */
#ifndef KILN_COMMON_VERSION_H
#define KILN_COMMON_VERSION_H

#define KILN_VERSION "0.1.0"

#endif
