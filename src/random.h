/* random.h: the library's one pseudo-random generator, for everything drawn from a seed
 * (shuffled folds, few-shot episodes), so that a seed means the same on every machine and
 * for every thread count. SplitMix64 (Steele, Lea and Flood, 2014): 64 bits of state, every
 * seed valid, and outputs that pass BigCrush; a stream can be started anywhere, which is what
 * lets parallel work seed one generator per task from (seed, task index). Never
 * cryptographic. */
#ifndef KNN_RANDOM_H
#define KNN_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#define KNN__SPLITMIX_GAMMA 0x9E3779B97F4A7C15ull

/* The next 64 random bits of the stream whose state is *state. */
static inline uint64_t knn__splitmix64(uint64_t *state)
{
    uint64_t z = (*state += KNN__SPLITMIX_GAMMA);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A number in [0, n) (n >= 1): the high half of a 64 x 64-bit product (Lemire), whose bias,
 * below n / 2^64, is far under anything a test or an experiment can see. */
static inline size_t knn__random_below(uint64_t *state, size_t n)
{
    return (size_t)(((unsigned __int128)knn__splitmix64(state) * n) >> 64);
}

/* The state of task `task`'s own stream under `seed`: output number `task` of the seed's
 * stream, computed directly, so tasks may run in any order on any thread. */
static inline uint64_t knn__random_task_state(uint64_t seed, uint64_t task)
{
    uint64_t s = seed + task * KNN__SPLITMIX_GAMMA;
    return knn__splitmix64(&s);
}

#endif
