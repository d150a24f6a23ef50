"""checks.py: the benchmark's targets, printed the one way every section prints them."""


def print_checks(checks):
    """checks: [(what, value, limit, at_most)], each printed with met or MISS."""
    print("\ntargets (ratios from this run):")
    for what, value, limit, at_most in checks:
        ok = value <= limit if at_most else value >= limit
        print(f"  {'met ' if ok else 'MISS'}  {what} = {value:.4f} "
              f"({'<=' if at_most else '>='} {limit})")
