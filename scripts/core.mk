# Builds the nginx-free core into salesctl and the unit tests.
# make -f scripts/core.mk ROOT=... BUILD=... [salesctl|unit]

CC      ?= cc
WARN    := -std=gnu11 -W -Wall -Wextra -Wpointer-arith -Wno-unused-parameter -Werror
CORE    := $(filter-out $(ROOT)/src/salesctl.c,$(wildcard $(ROOT)/src/*.c))
HDRS    := $(wildcard $(ROOT)/src/*.h)
LIBS    := -lsqlite3 -ljansson -lpthread -lm
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

salesctl: $(BUILD)/salesctl
unit: $(BUILD)/unit_tests

$(BUILD)/salesctl: $(CORE) $(ROOT)/src/salesctl.c $(HDRS)
	$(CC) $(WARN) -O2 -g -I$(ROOT)/src -o $@ $(CORE) $(ROOT)/src/salesctl.c $(LIBS)

$(BUILD)/unit_tests: $(CORE) $(HDRS) $(wildcard $(ROOT)/t/unit/*.c $(ROOT)/t/unit/*.h)
	$(CC) $(WARN) -O1 -g $(SAN) -I$(ROOT)/src -I$(ROOT)/t/unit -o $@ $(CORE) $(wildcard $(ROOT)/t/unit/*.c) $(LIBS)

.PHONY: salesctl unit
