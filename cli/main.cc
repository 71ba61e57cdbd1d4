// edgecachectl: the admin CLI. A thin main over cli/src (ctl.h).
#include "ctl.h"

int main(int argc, char** argv) { return edgecache::ctl::Main(argc, argv); }
