# SPDX-License-Identifier: Apache-2.0
# intent - the only build. Targets:
#   make                      build/intent, build/libintent.a, build/intent_test
#   make test                 build, then the whole suite (tests/run.sh)
#   make SANITIZER=address test   the suite under AddressSanitizer + UBSan (build/address/)
#   make SANITIZER=thread test    ThreadSanitizer (build/thread/)
#   make check                test + SANITIZER=address test (what CI runs)
#   make fuzz                 libFuzzer targets (clang) in build/fuzz/ (fuzz-run, fuzz-smoke)
#   make tsan-test            ThreadSanitizer: unit + serve/train/faults e2e, OpenMP kernels
#   make valgrind             valgrind memcheck of train, predict, serve (scripts/valgrind.sh)
#   make bench                benchmarks in bench/ (see bench/README.md)
#   make install              bin/intent, lib/libintent.so + .a, include/intent/,
#                             lib/pkgconfig/intent.pc, man pages, bash completion
#                             and the bundled dataset under $(DESTDIR)$(PREFIX)
#   make uninstall            removes exactly what install put there
#   make help                 this text
# Variables: BUILD=dir, CC=..., NO_OMP=1 (serial kernels), OPT=-O3, WERROR=1,
#   MPI=0 (no multi-process training; default: with Open MPI when mpicc or
#   pkg-config ompi-c is found, MPI=1 requires it),
#   PREFIX=/usr/local (compiled into intent as the dataset's place), DESTDIR=

CC ?= cc
SANITIZER ?=
ifeq ($(SANITIZER),)
BUILD ?= build
else
BUILD ?= build/$(SANITIZER)
endif

MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BLAS_DIR ?= /usr/lib/$(MULTIARCH)/openblas-openmp
BLAS_INC ?= /usr/include/$(MULTIARCH)/openblas-openmp

# pkg-config module = the Debian package that provides it
PC_DEPS := libcurl=libcurl4-openssl-dev libmicrohttpd=libmicrohttpd-dev jansson=libjansson-dev \
    libutf8proc=libutf8proc-dev yaml-0.1=libyaml-dev zlib=zlib1g-dev libcrypto=libssl-dev \
    libpng=libpng-dev
PC_MODULES := $(foreach d,$(PC_DEPS),$(firstword $(subst =, ,$(d))))

# Before anything compiles, every pkg-config module and the OpenBLAS header
# and library are checked; a missing one stops make with the package to
# install. Goals that compile nothing skip the check.
NOCOMPILE_GOALS := clean deps uninstall help
ifneq ($(filter-out $(NOCOMPILE_GOALS),$(or $(MAKECMDGOALS),all)),)
DEPS_MISSING := $(shell command -v pkg-config >/dev/null || { echo pkg-config; exit; }; \
    $(foreach d,$(PC_DEPS),pkg-config --exists $(word 1,$(subst =, ,$(d))) || echo $(word 2,$(subst =, ,$(d)));) \
    [ -r $(BLAS_INC)/cblas.h ] && [ -e $(BLAS_DIR)/libopenblas.so ] || echo libopenblas-openmp-dev)
ifneq ($(DEPS_MISSING),)
$(error missing: $(DEPS_MISSING) - run scripts/install-deps.sh (or apt-get install $(DEPS_MISSING)))
endif
PC_CFLAGS := $(shell pkg-config --cflags $(PC_MODULES))
PC_LIBS := $(shell pkg-config --libs $(PC_MODULES))
# MPI (data-parallel `intent train` under mpirun, docs/scale-out.md): only
# src/train/dist.c includes mpi.h. Open MPI's wrapper says how to compile
# and link; pkg-config ompi-c is the fallback.
ifneq ($(MPI),0)
MPI_LIBS := $(shell mpicc --showme:link 2>/dev/null || pkg-config --libs ompi-c 2>/dev/null)
MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null || pkg-config --cflags ompi-c 2>/dev/null)
ifeq ($(MPI)$(strip $(MPI_LIBS)),1)
$(error MPI=1 but no MPI found - apt-get install libopenmpi-dev openmpi-bin, or build with MPI=0)
endif
endif
endif
MPI_MODE := $(if $(strip $(MPI_LIBS)),mpi,nompi)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share/intent
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
VERSION := $(shell sed -n 's/^\#define IC_VERSION "\(.*\)"/\1/p' include/intent/ic.h)
# ABI version of libintent.so (its soname is libintent.so.$(SOVERSION))
SOVERSION := 0

OPT ?= -O2
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -Iinclude -Isrc -Itests -fPIC \
    -I$(BLAS_INC) $(PC_CFLAGS)
LIBS := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas $(PC_LIBS) $(MPI_LIBS) -lpthread -ldl -lm

# ThreadSanitizer: OpenMP off by default (libgomp is not instrumented, its
# barriers would read as races; scripts/tsan-test.sh checks the OpenMP loops
# with clang + libomp + Archer), and no target_clones (their ifunc resolvers
# run before the TSan runtime is initialised).
ifeq ($(SANITIZER),thread)
NO_OMP ?= 1
CFLAGS_BASE += -DIC_NO_CLONES
endif
ifneq ($(NO_OMP),1)
CFLAGS_BASE += -fopenmp
LIBS += -fopenmp
else
CFLAGS_BASE += -Wno-unknown-pragmas
endif

ifeq ($(SANITIZER),address)
SANFLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SANITIZER),undefined)
SANFLAGS := -fsanitize=undefined -fno-sanitize-recover=undefined
else ifeq ($(SANITIZER),thread)
SANFLAGS := -fsanitize=thread
else
SANFLAGS :=
endif
ifneq ($(WERROR),)
CFLAGS_BASE += -Werror
endif

CFLAGS := $(CFLAGS_BASE) $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(SANFLAGS) $(EXTRA_LDFLAGS)

LIB_SRC := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*'))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
TEST_SRC := tests/test_main.c $(sort $(wildcard tests/unit/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
DEPS := $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

.PHONY: all test check fuzz bench clean deps help shared man install uninstall
all: $(BUILD)/intent $(BUILD)/intent_test

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The BERT kernels (src/nn): -O3 vectorises their element-wise loops, and
# without errno sqrtf is one instruction.
$(BUILD)/obj/src/nn/%.o: CFLAGS += -O3 -fno-math-errno

$(BUILD)/libintent.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The installed dataset's directory is compiled into `intent train`; the
# stamp file changes (and cmd_train.o is rebuilt) only when DATADIR does.
DATADIR_STAMP := $(BUILD)/datadir
ifneq ($(DEPS_MISSING)$(PC_LIBS),)
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(DATADIR_STAMP) 2>/dev/null)" = '$(DATADIR)' ] || \
    printf '%s\n' '$(DATADIR)' >$(DATADIR_STAMP); })
endif
$(BUILD)/obj/src/cli/cmd_train.o: $(DATADIR_STAMP)

# dist.c with or without MPI: the stamp changes (and dist.o is rebuilt) when
# the mode does, so MPI=0 and the default can share a build directory.
MPI_STAMP := $(BUILD)/mpi
ifneq ($(DEPS_MISSING)$(PC_LIBS),)
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(MPI_STAMP) 2>/dev/null)" = '$(MPI_MODE)' ] || \
    printf '%s\n' '$(MPI_MODE)' >$(MPI_STAMP); })
endif
$(BUILD)/obj/src/train/dist.o: $(MPI_STAMP)
ifeq ($(MPI_MODE),mpi)
$(BUILD)/obj/src/train/dist.o: CFLAGS += $(MPI_CFLAGS) -DIC_MPI
endif
$(BUILD)/obj/src/cli/cmd_train.o: CFLAGS += -DIC_DATADIR='"$(DATADIR)"'

$(BUILD)/intent: $(CLI_OBJ) $(BUILD)/libintent.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libintent.a $(LIBS)

$(BUILD)/intent_test: $(TEST_OBJ) $(BUILD)/libintent.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libintent.a $(LIBS)

# --- shared library, manual pages, pkg-config file, install ------------------
SHLIB := $(BUILD)/libintent.so.$(VERSION)
CLI_CMDS := $(patsubst src/cli/cmd_%.c,%,$(filter src/cli/cmd_%.c,$(CLI_SRC)))
MAN_PAGES := $(BUILD)/man/intent.1 $(CLI_CMDS:%=$(BUILD)/man/intent-%.1)
HEADERS := $(sort $(wildcard include/intent/*.h))

shared: $(SHLIB)
man: $(MAN_PAGES)

$(SHLIB): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libintent.so.$(SOVERSION) $(LDFLAGS) -o $@ $(LIB_OBJ) $(LIBS)

# generated from the program's --help (scripts/gen-man.sh), plus man/*.1.in
$(MAN_PAGES): $(BUILD)/intent scripts/gen-man.sh $(wildcard man/*.1.in) $(DATADIR_STAMP)
$(BUILD)/man/intent.1:
	@mkdir -p $(dir $@)
	INTENT_DATADIR='$(DATADIR)' scripts/gen-man.sh $(BUILD)/intent >$@.tmp && mv $@.tmp $@
$(BUILD)/man/intent-%.1:
	@mkdir -p $(dir $@)
	INTENT_DATADIR='$(DATADIR)' scripts/gen-man.sh $(BUILD)/intent $* >$@.tmp && mv $@.tmp $@

# Static linking (pkg-config --static) needs libintent's dependencies: they
# are in Libs.private as the -l flags pkg-config gave this build, not as
# Requires.private modules, because libcurl's .pc would then add its own
# private libraries (nghttp2, ssh2, rtmp, psl, ...), whose -dev packages
# Debian does not install, and the link would fail. No public header includes
# a dependency's header, so no dependency cflags are needed.
# (rewritten every time: PREFIX may differ from the last run)
.PHONY: $(BUILD)/intent.pc
$(BUILD)/intent.pc:
	@mkdir -p $(dir $@)
	@{ printf 'prefix=%s\nlibdir=%s\nincludedir=%s\n\n' '$(PREFIX)' '$(LIBDIR)' '$(INCLUDEDIR)'; \
	  printf 'Name: intent\nDescription: %s\nVersion: %s\n' \
	      'BERT intent classifiers: training, inference, tokenizer, HTTP serving' '$(VERSION)'; \
	  printf 'Libs: -L$${libdir} -lintent\n'; \
	  printf 'Libs.private: %s\n' '$(strip $(LIBS))'; \
	  printf 'Cflags: -I$${includedir}\n'; } >$@.tmp && mv $@.tmp $@

INSTALLED := $(BINDIR)/intent $(LIBDIR)/libintent.a $(LIBDIR)/libintent.so.$(VERSION) \
    $(LIBDIR)/libintent.so.$(SOVERSION) $(LIBDIR)/libintent.so $(PKGCONFIGDIR)/intent.pc \
    $(HEADERS:include/intent/%=$(INCLUDEDIR)/intent/%) \
    $(MAN_PAGES:$(BUILD)/man/%=$(MANDIR)/man1/%) $(BASHCOMPDIR)/intent $(DATADIR)/dataset_v2.json

install: $(BUILD)/intent $(BUILD)/libintent.a $(SHLIB) $(MAN_PAGES) $(BUILD)/intent.pc
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(PKGCONFIGDIR)' \
	    '$(DESTDIR)$(INCLUDEDIR)/intent' '$(DESTDIR)$(MANDIR)/man1' '$(DESTDIR)$(BASHCOMPDIR)' \
	    '$(DESTDIR)$(DATADIR)'
	install -m 755 $(BUILD)/intent '$(DESTDIR)$(BINDIR)/intent'
	install -m 644 $(BUILD)/libintent.a '$(DESTDIR)$(LIBDIR)/libintent.a'
	install -m 755 $(SHLIB) '$(DESTDIR)$(LIBDIR)/libintent.so.$(VERSION)'
	ln -sf libintent.so.$(VERSION) '$(DESTDIR)$(LIBDIR)/libintent.so.$(SOVERSION)'
	ln -sf libintent.so.$(SOVERSION) '$(DESTDIR)$(LIBDIR)/libintent.so'
	install -m 644 $(BUILD)/intent.pc '$(DESTDIR)$(PKGCONFIGDIR)/intent.pc'
	install -m 644 $(HEADERS) '$(DESTDIR)$(INCLUDEDIR)/intent/'
	install -m 644 $(MAN_PAGES) '$(DESTDIR)$(MANDIR)/man1/'
	install -m 644 completion/intent.bash '$(DESTDIR)$(BASHCOMPDIR)/intent'
	install -m 644 data/dataset_v2.json '$(DESTDIR)$(DATADIR)/dataset_v2.json'

uninstall:
	rm -f $(foreach f,$(INSTALLED),'$(DESTDIR)$(f)')
	rmdir '$(DESTDIR)$(INCLUDEDIR)/intent' '$(DESTDIR)$(DATADIR)' 2>/dev/null || true

test: all
	tests/run.sh $(BUILD)

check:
	$(MAKE) test
	$(MAKE) SANITIZER=address test

deps:
	scripts/install-deps.sh

help:
	@sed -n '2,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

# --- fuzzing (clang + libFuzzer) -------------------------------------------
# tests/fuzz/run.sh builds every tests/fuzz/fuzz_<x>.c (ASan + UBSan) into
# build/fuzz/ and runs them; see its header.
#   make fuzz                 build only (build/fuzz/fuzz_<x>)
#   make fuzz-run FUZZ_SECONDS=60   each target for FUZZ_SECONDS
#   make fuzz-smoke           seeds + regressions once, then 2 s per target
FUZZ_SECONDS ?= 60
.PHONY: fuzz fuzz-run fuzz-smoke print-fuzz-flags tsan-test valgrind
fuzz:
	tests/fuzz/run.sh --build

# tests/unit/test_fuzz_regress.c includes every tests/fuzz/fuzz_*.c there is:
# a new target must rebuild it
$(BUILD)/obj/tests/unit/test_fuzz_regress.o: $(wildcard tests/fuzz/fuzz_*.c tests/fuzz/fuzz_common.h)

fuzz-run:
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# what tests/fuzz/run.sh links the fuzzers with (NO_OMP=1 there)
print-fuzz-flags:
	@echo "CFLAGS=$(CFLAGS_BASE)"
	@echo "LIBS=$(LIBS)"

fuzz-smoke:
	tests/fuzz/run.sh --smoke

# --- ThreadSanitizer: the server, tracker threads and the OpenMP kernels ----
# (scripts/tsan-test.sh explains the two builds: gcc without OpenMP, and
# clang + libomp + Archer for the parallel loops)
tsan-test:
	scripts/tsan-test.sh

# --- valgrind memcheck of train (tiny), predict and serve -------------------
valgrind: all
	scripts/valgrind.sh $(BUILD)

bench: all
	bench/run.sh

clean:
	rm -rf build

-include $(DEPS)
