#include "runtime/manager.hpp"
