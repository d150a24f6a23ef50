# knn: build the library (static and shared), the command-line tool and the tests.
#   make            library + CLI (installs nothing)
#   make test       installs missing Debian packages (scripts/deps.sh test), then runs every test
#   make demo       installs missing Debian packages (scripts/deps.sh demo), then classifies
#                   Fashion-MNIST
#   make install PREFIX=/usr/local   (DESTDIR honoured)

PREFIX ?= /usr/local
CC ?= cc
CFLAGS ?= -O3 -g
PYTHON ?= /usr/bin/python3
KNN_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow \
             -fopenmp -fPIC -Iinclude -Isrc
LDLIBS = -lstb -lz -lm
LDFLAGS_OMP = -fopenmp

SOVERSION = 0
VERSION = 0.1.0
B = build
LIB_SRC = $(sort $(wildcard src/*.c src/kernels/*.c))
LIB_OBJ = $(LIB_SRC:%.c=$(B)/%.o)
CLI_SRC = $(sort $(wildcard cli/*.c))
CLI_OBJ = $(CLI_SRC:%.c=$(B)/%.o)
TEST_SRC = $(sort $(wildcard tests/*.c))

all: knn $(B)/libknn.a $(B)/libknn.so

$(B)/%.o: %.c $(wildcard include/*.h src/*.h src/kernels/*.h cli/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(KNN_CFLAGS) $(KNN_ISA_FLAGS) $(CFLAGS) -c $< -o $@

# The SIMD kernels are compiled for their instruction sets; dispatch.c calls them only where
# the processor has them. Everything else is built for baseline x86-64.
$(B)/src/kernels/avx2.o: KNN_ISA_FLAGS = -mavx2 -mfma
$(B)/src/kernels/avx512.o: KNN_ISA_FLAGS = -mavx512f -mavx512bw -mavx512vnni

$(B)/libknn.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/libknn.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libknn.so.$(SOVERSION) $(LDFLAGS_OMP) -o $@ $^ $(LDLIBS)

# The command line alone downloads (knn fetch: libcurl, libarchive, OpenSSL's MD5) and serves
# (knn serve: libmicrohttpd, cJSON, and the demo page web/demo.html built in as a string).
CLI_LDLIBS = -lcurl -larchive -lcrypto -lmicrohttpd -lcjson -lpthread

$(B)/cli/demo_html.c: web/demo.html
	@mkdir -p $(dir $@)
	awk 'BEGIN { print "const char knn_demo_html[] =" } \
	     { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); print "    \"" $$0 "\\n\"" } \
	     END { print "    ;" }' $< > $@

$(B)/cli/demo_html.o: $(B)/cli/demo_html.c
	$(CC) $(KNN_CFLAGS) $(CFLAGS) -c $< -o $@

knn: $(CLI_OBJ) $(B)/cli/demo_html.o $(B)/libknn.a
	$(CC) $(LDFLAGS_OMP) $(LDFLAGS) -o $@ $(CLI_OBJ) $(B)/cli/demo_html.o $(B)/libknn.a \
	    $(LDLIBS) $(CLI_LDLIBS)

$(B)/test_unit: $(TEST_SRC) $(B)/libknn.a $(wildcard tests/*.h)
	$(CC) $(KNN_CFLAGS) $(CFLAGS) -o $@ $(TEST_SRC) $(B)/libknn.a $(LDLIBS) $(LDFLAGS_OMP)

deps-test:
	sh scripts/deps.sh test

deps-demo:
	sh scripts/deps.sh demo

# Unit tests (C), then the command line on fixtures and bad input, then Fashion-MNIST against
# an exact numpy reference (skipped with a message where the data or numpy is absent).
test: deps-test all $(B)/test_unit
	$(B)/test_unit
	$(PYTHON) tests/test_cli.py
	$(PYTHON) tests/test_fetch.py
	$(PYTHON) tests/test_serve.py
	@if command -v node >/dev/null 2>&1; then node tests/browser/demo.test.mjs; \
	 else echo "SKIP browser: node is not installed"; fi
	$(PYTHON) tests/test_fashion_mnist.py

demo: deps-demo all
	sh scripts/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 knn $(DESTDIR)$(PREFIX)/bin/knn
	install -m 644 include/knn.h $(DESTDIR)$(PREFIX)/include/knn.h
	install -m 644 $(B)/libknn.a $(DESTDIR)$(PREFIX)/lib/libknn.a
	install -m 755 $(B)/libknn.so $(DESTDIR)$(PREFIX)/lib/libknn.so.$(VERSION)
	ln -sf libknn.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libknn.so.$(SOVERSION)
	ln -sf libknn.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libknn.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' knn.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/knn.pc

clean:
	rm -rf $(B) knn

.PHONY: all test demo install clean deps-test deps-demo

# Side-by-side benchmark on Fashion-MNIST: knn (bench/knn_bench.c) and, where installed, faiss,
# scikit-learn and PyTorch (bench/peers.py); bench/bench.py prints the table.
$(B)/knn_bench: bench/knn_bench.c $(B)/libknn.a include/knn.h
	$(CC) $(KNN_CFLAGS) $(CFLAGS) -o $@ bench/knn_bench.c $(B)/libknn.a $(LDLIBS) $(LDFLAGS_OMP)

bench: deps-demo all $(B)/knn_bench
	$(PYTHON) bench/bench.py

.PHONY: bench
