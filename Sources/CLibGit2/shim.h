#ifndef BATON_CLIBGIT2_SHIM_H
#define BATON_CLIBGIT2_SHIM_H
#include <git2.h>
#endif
