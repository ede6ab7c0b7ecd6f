"""python final.py -> trains the two chosen recipes (3 members each) on both protocols and prints val AND test."""
import nn
from run_exps import T, P, RH, WV, TIME

CHOSEN = {
 "default": dict(name="FINAL default: hybrid daily+hourly24, 3 members", feats=[T, P, RH, WV] + TIME,
                 full=[T], pooled=[P, RH, WV], pool=6, static=[T, P, RH, WV] + TIME, head_bias=True, hidden=8,
                 hourly=[T, P, RH, WV], hours=24, hunits=8, members=3),
 "bme280": dict(name="FINAL bme280: hybrid daily+hourly24, 3 members", feats=[T, P, RH] + TIME,
                full=[T], pooled=[P, RH], pool=6, static=[T, P, RH] + TIME, head_bias=True, hidden=8,
                hourly=[T, P, RH], hours=24, hunits=8, members=3),
}
if __name__ == "__main__":
    for cfg in CHOSEN.values():
        nn.run(dict(nn.DEFAULT, **cfg), test=True)
