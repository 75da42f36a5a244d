"""A toy spreadsheet plugin, the kind of code pyembed loads in-process."""
import csv
import os
import statistics

_HERE = os.path.dirname(os.path.abspath(__file__))


class Excel:
    def __init__(self, path=os.path.join(_HERE, "sales.csv")):
        with open(path, newline="") as f:
            self.rows = list(csv.reader(f))

    def read_cell(self, row, col):
        return self.rows[row][col]

    def column(self, name):
        index = self.rows[0].index(name)
        return [float(r[index]) for r in self.rows[1:]]

    def summary(self, name, *, digits=2):
        values = self.column(name)
        return {
            "count": len(values),
            "mean": round(statistics.mean(values), digits),
            "max": max(values),
        }
