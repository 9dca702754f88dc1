#include "net/fabric.h"
#include "model/model.h"
