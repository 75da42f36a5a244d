# The baseline for hi.py: the same work as a plain script, run as `python hi_plain.py`.
print('hi')
print(1)
