#include "fabric.h"
#include "input/config.h"
