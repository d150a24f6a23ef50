# knn: build the library (static and shared), the command-line tool and the tests.
#   make            library + CLI (installs nothing)
#   make test       installs missing Debian packages (scripts/deps.sh test), then runs every test
#   make demo       installs missing Debian packages (scripts/deps.sh demo), then classifies
#                   Fashion-MNIST
#   make mpi        installs Open MPI (scripts/deps.sh mpi), then builds knn-mpi
#   make install PREFIX=/usr/local   (DESTDIR honoured; knn-mpi too where it is built)

PREFIX ?= /usr/local
CC ?= cc
CFLAGS ?= -O3 -g
PYTHON ?= /usr/bin/python3
KNN_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow -ffp-contract=off \
             -fopenmp -fPIC -fvisibility=hidden -Iinclude -Isrc
LDLIBS = -lstb -lturbojpeg -lz -lm
LDFLAGS_OMP = -fopenmp

SOVERSION = 0
VERSION = 0.1.0
B = build
# src/reference.c, the plain search the fast one is checked against, goes into the tests and
# the benchmark only, not into the shipped library.
REF_OBJ = $(B)/src/reference.o
LIB_SRC = $(filter-out src/reference.c,$(sort $(wildcard src/*.c src/kernels/*.c)))
LIB_OBJ = $(LIB_SRC:%.c=$(B)/%.o)
CLI_SRC = $(sort $(wildcard cli/*.c))
CLI_OBJ = $(CLI_SRC:%.c=$(B)/%.o)
TEST_SRC = $(sort $(wildcard tests/*.c))

# ConvNet features (DESIGN.md decision 13): OpenCV's dnn module runs ONNX networks, through
# src/features/onnx.cpp, the library's one C++ file, built in where libopencv-dnn-dev is
# installed (KNN_DNN=0 leaves it out); elsewhere src/features/onnx_none.c says it is not.
CXX ?= c++
KNN_DNN ?= $(if $(wildcard /usr/include/opencv4/opencv2/dnn.hpp),1,0)
ifeq ($(KNN_DNN),1)
LIB_OBJ += $(B)/src/features/onnx.o
LDLIBS += -lopencv_dnn -lopencv_core -lstdc++
else
LIB_OBJ += $(B)/src/features/onnx_none.o
endif

all: $(B)/libknn.a $(B)/libknn.so

$(B)/src/features/onnx.o: src/features/onnx.cpp src/features/onnx.h
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -Wall -Wextra -Werror -fPIC -fvisibility=hidden \
	    -I/usr/include/opencv4 $(CFLAGS) -c $< -o $@

$(B)/%.o: %.c $(wildcard include/*.h src/*.h src/kernels/*.h cli/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(KNN_CFLAGS) $(KNN_ISA_FLAGS) $(KNN_FILE_FLAGS) $(CFLAGS) -c $< -o $@

# The SIMD kernels are compiled for their instruction sets; dispatch.c calls them only where
# the processor has them. Everything else is built for baseline x86-64.
$(B)/src/kernels/avx2.o: KNN_ISA_FLAGS = -mavx2 -mfma
$(B)/src/kernels/avxvnni.o: KNN_ISA_FLAGS = -mavx2 -mfma -mavxvnni
$(B)/src/kernels/avx512.o: KNN_ISA_FLAGS = -mavx512f -mavx512bw -mavx512vnni

$(B)/libknn.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# What a program linking libknn.a needs besides it (setup.py asks; knn.pc says it): OpenCV's
# dnn and libstdc++ only where the ONNX runner is built in.
print-ldlibs:
	@echo $(LDLIBS)

$(B)/libknn.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libknn.so.$(SOVERSION) $(LDFLAGS_OMP) -o $@ $^ $(LDLIBS)

# The command line alone downloads (knn fetch: libcurl, libarchive, OpenSSL's MD5) and serves
# (knn serve: libmicrohttpd, cJSON, and the demo page web/demo.html built in as a string).
CLI_LDLIBS = -lcurl -larchive -lcrypto -lmicrohttpd -lcjson -lpthread

# PNG figures (knn cv --plot cv.png): the SVG rendered by librsvg onto a cairo surface, built
# in where librsvg2-dev is installed (KNN_RSVG=0 leaves it out: .png is then refused).
KNN_RSVG ?= $(shell pkg-config --exists librsvg-2.0 cairo 2>/dev/null && echo 1 || echo 0)
ifeq ($(KNN_RSVG),1)
$(B)/cli/plot.o: KNN_FILE_FLAGS = -DKNN_RSVG $(shell pkg-config --cflags librsvg-2.0 cairo)
CLI_LDLIBS += $(shell pkg-config --libs librsvg-2.0 cairo)
endif

# The pages knn serve answers, web/NAME.html, built in as the string knn_NAME_html.
PAGES = $(patsubst web/%.html,$(B)/cli/%_html.o,$(wildcard web/*.html))

$(B)/cli/%_html.c: web/%.html
	@mkdir -p $(dir $@)
	awk 'BEGIN { print "const char knn_$*_html[] =" } \
	     { gsub(/\\/, "\\\\\\\\"); gsub(/"/, "\\\""); print "    \"" $$0 "\\n\"" } \
	     END { print "    ;" }' $< > $@

$(B)/cli/%_html.o: $(B)/cli/%_html.c
	$(CC) $(KNN_CFLAGS) $(CFLAGS) -c $< -o $@

KNN_BIN ?= knn

all: $(KNN_BIN)

$(KNN_BIN): $(CLI_OBJ) $(PAGES) $(B)/libknn.a
	$(CC) $(LDFLAGS_OMP) $(LDFLAGS) -o $@ $(CLI_OBJ) $(PAGES) $(B)/libknn.a \
	    $(LDLIBS) $(CLI_LDLIBS)

# knn-mpi (make mpi): the same commands over MPI ranks, where mpicc is installed
# (scripts/deps.sh mpi: Open MPI). mpi/main.c is its main(), around the CLI's own objects
# (all but cli/knn.c, knn's main()); the library knows nothing of MPI.
MPICC ?= mpicc
MPI_BIN ?= knn-mpi
mpi: deps-mpi
	@$(MAKE) --no-print-directory $(MPI_BIN)

deps-mpi:
	sh scripts/deps.sh mpi

$(B)/mpi/main.o: mpi/main.c cli/cli.h include/knn.h
	@mkdir -p $(dir $@)
	$(MPICC) $(KNN_CFLAGS) -Icli $(CFLAGS) -c $< -o $@

$(MPI_BIN): $(B)/mpi/main.o $(filter-out $(B)/cli/knn.o,$(CLI_OBJ)) $(PAGES) $(B)/libknn.a
	$(MPICC) $(LDFLAGS_OMP) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CLI_LDLIBS)

$(B)/test_unit: $(TEST_SRC) $(REF_OBJ) $(B)/libknn.a $(wildcard tests/*.h)
	$(CC) $(KNN_CFLAGS) $(CFLAGS) -o $@ $(TEST_SRC) $(REF_OBJ) $(B)/libknn.a $(LDLIBS) \
	    $(LDFLAGS_OMP)

# The shared library exports the public API and nothing else (KNN_API, -fvisibility=hidden):
# every function knn.h declares, and no internal knn__ one.
check-exports: $(B)/libknn.so
	@nm -D --defined-only $(B)/libknn.so | awk '$$2 == "T" {print $$3}' | sort > $(B)/exports.txt
	@grep -o 'knn_[a-z0-9_]*(' include/knn.h | tr -d '(' | sort -u > $(B)/declared.txt
	@if cmp -s $(B)/exports.txt $(B)/declared.txt; then echo "exports: 1 passed, 0 failed"; \
	 else diff $(B)/declared.txt $(B)/exports.txt; echo "exports: 0 passed, 1 failed"; exit 1; fi

deps-test:
	sh scripts/deps.sh test

deps-demo:
	sh scripts/deps.sh demo

deps-bench:
	sh scripts/deps.sh bench

# Unit tests (C) and the shared library's exports; the command line on fixtures and bad input;
# fetch and serve against local servers; the browser pages; Fashion-MNIST against an exact
# numpy reference; ConvNet features against PyTorch (and a knn built without the ONNX
# runtime, build/nodnn/knn); the Python package against scikit-learn (each skipped with a
# message where what it needs is absent); knn-mpi on 1, 2 and 3 ranks against knn (built
# where mpicc is installed; skipped elsewhere); then the sanitizer, fuzzing and valgrind
# runs.
# The packages are installed first, then make runs again, so that what they bring (OpenCV's
# dnn module: KNN_DNN) is seen by a fresh parse of this file.
test: deps-test
	@$(MAKE) --no-print-directory test-run

test-run: all $(B)/test_unit check-exports
	$(B)/test_unit
	$(PYTHON) tests/test_cli.py
	$(PYTHON) tests/test_writers.py
	$(PYTHON) tests/test_folders.py
	$(PYTHON) tests/test_fewshot.py
	$(PYTHON) tests/test_text.py
	$(PYTHON) tests/test_fetch.py
	$(PYTHON) tests/test_serve.py
	@if command -v node >/dev/null 2>&1; then node tests/browser/demo.test.mjs; \
	 else echo "SKIP browser: node is not installed"; fi
	$(PYTHON) tests/test_fashion_mnist.py
	$(MAKE) --no-print-directory B=$(B)/nodnn KNN_DNN=0 KNN_BIN=$(B)/nodnn/knn $(B)/nodnn/knn \
	    >/dev/null
	$(PYTHON) tests/test_features.py
	$(PYTHON) tests/test_python.py
	@if command -v $(MPICC) >/dev/null 2>&1; then $(MAKE) --no-print-directory $(MPI_BIN); \
	 fi
	$(PYTHON) tests/test_mpi.py
	$(MAKE) --no-print-directory check-asan fuzz-quick check-valgrind

demo: deps-demo all
	sh scripts/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 knn $(DESTDIR)$(PREFIX)/bin/knn
	if [ -x $(MPI_BIN) ]; then install -m 755 $(MPI_BIN) $(DESTDIR)$(PREFIX)/bin/knn-mpi; fi
	install -m 644 include/knn.h $(DESTDIR)$(PREFIX)/include/knn.h
	install -m 644 $(B)/libknn.a $(DESTDIR)$(PREFIX)/lib/libknn.a
	install -m 755 $(B)/libknn.so $(DESTDIR)$(PREFIX)/lib/libknn.so.$(VERSION)
	ln -sf libknn.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libknn.so.$(SOVERSION)
	ln -sf libknn.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libknn.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS@|$(LDLIBS)|' knn.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/knn.pc

# Sanitizers: the library, the tool and the unit tests built with AddressSanitizer and
# UndefinedBehaviorSanitizer in build/asan, then the unit, command-line, writer, folder,
# few-shot, text, fetch and server tests run there; where mpicc is installed, knn-mpi too,
# with tests/test_mpi.py, leak checking off (Open MPI's plugins, unloaded at MPI_Finalize,
# leave allocations LeakSanitizer cannot name to suppress; the shard code's leaks are checked
# by the unit tests, which play ranks with threads).
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined
ASAN = $(MAKE) --no-print-directory B=build/asan KNN_BIN=build/asan/knn \
       CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined"

# Each run's output goes to a log; its last line (N passed, N failed) is shown, and a failure
# shows the whole log and fails the target.
RUN_LOGGED = run() { log=$$1; shift; "$$@" > $$log 2>&1; s=$$?; \
             if [ $$s -ne 0 ]; then cat $$log; else grep -E 'passed, [0-9]+ failed' $$log | \
             tail -1; fi; return $$s; }

check-asan:
	$(ASAN) build/asan/knn build/asan/test_unit build/asan/libknn.a >/dev/null
	@$(RUN_LOGGED); export ASAN_OPTIONS=detect_leaks=1 KNN_BIN=build/asan/knn \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp; \
	run build/asan/unit.log build/asan/test_unit && \
	run build/asan/cli.log $(PYTHON) tests/test_cli.py && \
	run build/asan/writers.log $(PYTHON) tests/test_writers.py && \
	run build/asan/folders.log $(PYTHON) tests/test_folders.py && \
	run build/asan/fewshot.log $(PYTHON) tests/test_fewshot.py && \
	run build/asan/text.log $(PYTHON) tests/test_text.py && \
	run build/asan/features.log $(PYTHON) tests/test_features.py && \
	run build/asan/fetch.log $(PYTHON) tests/test_fetch.py && \
	run build/asan/serve.log $(PYTHON) tests/test_serve.py
	@if command -v $(MPICC) >/dev/null 2>&1; then \
	  $(ASAN) MPI_BIN=build/asan/knn-mpi build/asan/knn-mpi >/dev/null && \
	  $(RUN_LOGGED) && run build/asan/mpi.log env ASAN_OPTIONS=detect_leaks=0 \
	      KNN_BIN=build/asan/knn KNN_MPI_BIN=build/asan/knn-mpi $(PYTHON) tests/test_mpi.py; \
	 fi

# Fuzzing. fuzz-quick (part of make test): each target, built with gcc and the sanitizers,
# runs its corpus and FUZZ_SECONDS of random edits of it (fuzz/driver.c). make fuzz: the same
# targets with clang's libFuzzer, FUZZ_TIME seconds each; what it finds goes to
# build/libfuzzer/corpus-TARGET, and a crash to crash-* files: add those to fuzz/corpus.
FUZZ_TARGETS = idx cifar model image spec boundary text
FUZZ_SECONDS ?= 3
FUZZ_TIME ?= 60

fuzz-quick:
	$(ASAN) build/asan/libknn.a >/dev/null
	@for t in $(FUZZ_TARGETS); do \
	  $(CC) $(KNN_CFLAGS) $(ASAN_FLAGS) -o build/asan/fuzz_$$t fuzz/fuzz_$$t.c fuzz/driver.c \
	      cli/boundary.c build/asan/libknn.a $(LDLIBS) -lcjson $(LDFLAGS_OMP) || exit 1; \
	  ASAN_OPTIONS=detect_leaks=1 build/asan/fuzz_$$t $(FUZZ_SECONDS) fuzz/corpus/$$t || exit 1; \
	done
	@echo "fuzz: $(words $(FUZZ_TARGETS)) passed, 0 failed"

fuzz:
	$(MAKE) --no-print-directory B=build/libfuzzer CC=clang KNN_DNN=0 \
	    CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" build/libfuzzer/libknn.a
	@for t in $(FUZZ_TARGETS); do \
	  clang $(KNN_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o build/libfuzzer/fuzz_$$t \
	      fuzz/fuzz_$$t.c cli/boundary.c build/libfuzzer/libknn.a -lstb -lturbojpeg -lz -lm -lcjson || exit 1; \
	  mkdir -p build/libfuzzer/corpus-$$t; \
	  build/libfuzzer/fuzz_$$t -max_total_time=$(FUZZ_TIME) -rss_limit_mb=4096 \
	      build/libfuzzer/corpus-$$t fuzz/corpus/$$t || exit 1; \
	done

# Leaks: the unit tests under valgrind (OpenMP's thread pool is reported as 'possibly lost',
# which is not a leak; definite leaks fail the run).
check-valgrind: $(B)/test_unit
	@$(RUN_LOGGED); OMP_NUM_THREADS=2 run $(B)/valgrind.log valgrind -q --error-exitcode=1 \
	    --leak-check=full --errors-for-leak-kinds=definite $(B)/test_unit

clean:
	rm -rf $(B) knn knn-mpi

.PHONY: print-ldlibs all test test-run demo install clean deps-test deps-demo check-asan fuzz fuzz-quick \
        check-valgrind features-demo mpi deps-mpi \
        check-exports

# Side-by-side benchmark on Fashion-MNIST: knn (bench/knn_bench.c) and, where installed, faiss,
# scikit-learn and PyTorch (bench/peers.py); bench/bench.py prints the table.
$(B)/knn_bench: bench/knn_bench.c $(REF_OBJ) $(B)/libknn.a include/knn.h
	$(CC) $(KNN_CFLAGS) $(CFLAGS) -o $@ bench/knn_bench.c $(REF_OBJ) $(B)/libknn.a $(LDLIBS) \
	    $(LDFLAGS_OMP)

bench: deps-bench all $(B)/knn_bench $(B)/index_bench $(B)/decode_bench
	@if command -v $(MPICC) >/dev/null 2>&1; then $(MAKE) --no-print-directory $(MPI_BIN); \
	 fi
	$(PYTHON) bench/bench.py

# knn-mpi alone: 1 against 2 ranks on Fashion-MNIST, time and each rank's peak memory
# (bench/mpi.py; make bench prints the same section).
bench-mpi: deps-bench all
	@$(MAKE) --no-print-directory $(MPI_BIN)
	$(PYTHON) bench/mpi.py

# The graph index alone: knn's curves (L2, L1, the 540,000-row scale check) next to hnswlib's
# and faiss HNSW's (bench/index.py; make bench prints the same section).
$(B)/index_bench: bench/index_bench.c $(B)/libknn.a include/knn.h
	$(CC) $(KNN_CFLAGS) $(CFLAGS) -o $@ bench/index_bench.c $(B)/libknn.a $(LDLIBS) \
	    $(LDFLAGS_OMP)

bench-index: deps-bench all $(B)/index_bench
	$(PYTHON) bench/index.py

# Photos alone: JPEGs decoded and resized per second, knn against OpenCV and PIL
# (bench/images.py; make bench prints the same section).
$(B)/decode_bench: bench/decode_bench.c $(B)/libknn.a include/knn.h
	$(CC) $(KNN_CFLAGS) $(CFLAGS) -o $@ bench/decode_bench.c $(B)/libknn.a $(LDLIBS) \
	    $(LDFLAGS_OMP)

bench-images: deps-bench all $(B)/decode_bench
	$(PYTHON) bench/images.py

# Text alone: tf-idf k-NN on the Debian package descriptions against scikit-learn
# (bench/text.py; make bench prints the same section).
bench-text: deps-bench all
	$(PYTHON) bench/text.py

.PHONY: bench bench-index bench-text bench-images bench-mpi deps-bench

# k-NN on ConvNet features (README): trains a small ConvNet on Fashion-MNIST's training split
# with PyTorch (scripts/train_convnet.py), exports it to ONNX, lets knn cv choose K and the
# metric on the training features, evaluates the test set once, and prints raw pixels next to
# the features. Installs what it needs (scripts/deps.sh features), then runs make again.
features-demo:
	sh scripts/deps.sh features
	@$(MAKE) --no-print-directory all
	$(PYTHON) scripts/features_demo.py
