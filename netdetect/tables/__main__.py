"""`python -m netdetect.tables > netdetect/decode/_tables.h`: the compiled event core's row layouts."""

from netdetect.tables.schema import c_header

print(c_header(), end="")
