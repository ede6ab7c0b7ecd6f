"""python run_exps.py GROUP  -- runs the named group of recipes from EXPS sequentially (one training at a time)."""
import sys
import nn

T = "T (degC)"
TIME = ["hour_sin", "hour_cos", "doy_sin", "doy_cos"]
P, RH, WV, TD, VPD, SH = "p (mbar)", "rh (%)", "wv (m/s)", "Tdew (degC)", "VPdef (mbar)", "sh (g/kg)"
EXPS = {
 "g1": [
  dict(name="E1 T + static[T,time] bias", feats=[T]+TIME, static=[T]+TIME, head_bias=True),
  dict(name="E2 E1 + pooled6[p,rh,wv]", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV], static=[T]+TIME, head_bias=True),
  dict(name="E3 E2 + static levels all", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV],
       static=[T,P,RH,WV]+TIME, head_bias=True),
  dict(name="E4 E3 + hidden8", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV],
       static=[T,P,RH,WV]+TIME, head_bias=True, hidden=8),
  dict(name="E5 E3 pool3", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV], pool=3, static=[T,P,RH,WV]+TIME, head_bias=True),
  dict(name="E6 E3 units16", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV],
       static=[T,P,RH,WV]+TIME, head_bias=True, units=16),
 ],
 "g2": [
  dict(name="E7 E4 + Tdew,VPdef,sh pooled+static", feats=[T,P,RH,WV,TD,VPD,SH]+TIME, pooled=[P,RH,WV,TD,VPD,SH],
       static=[T,P,RH,WV,TD,VPD,SH]+TIME, head_bias=True, hidden=8),
  dict(name="E8 E4 hidden16", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV],
       static=[T,P,RH,WV]+TIME, head_bias=True, hidden=16),
  dict(name="E9 E4 epochs40", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV],
       static=[T,P,RH,WV]+TIME, head_bias=True, hidden=8, epochs=40, patience=6),
  dict(name="E10 E4 + hourly24[T,p,rh,wv] hunits8", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV],
       static=[T,P,RH,WV]+TIME, head_bias=True, hidden=8, hourly=[T,P,RH,WV], hours=24),
  dict(name="E11 E4 stride1", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV],
       static=[T,P,RH,WV]+TIME, head_bias=True, hidden=8, stride=1),
 ],
 "g3": [
  dict(name="E12 E10 hidden16 hours48", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV],
       static=[T,P,RH,WV]+TIME, head_bias=True, hidden=16, hourly=[T,P,RH,WV], hours=48),
  dict(name="E13 E10 loss mae", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV],
       static=[T,P,RH,WV]+TIME, head_bias=True, hidden=8, hourly=[T,P,RH,WV], hours=24, loss="mae"),
  dict(name="B1 bme280 hybrid [T,p,rh]", feats=[T,P,RH]+TIME, pooled=[P,RH],
       static=[T,P,RH]+TIME, head_bias=True, hidden=8, hourly=[T,P,RH], hours=24),
  dict(name="B2 bme280 hybrid [T,p,rh,Tdew,VPdef]", feats=[T,P,RH,TD,VPD]+TIME, pooled=[P,RH,TD,VPD],
       static=[T,P,RH,TD,VPD]+TIME, head_bias=True, hidden=8, hourly=[T,P,RH], hours=24),
 ],
 "g4": [
  dict(name="E14 E10 stride1 epochs8 patience3", feats=[T,P,RH,WV]+TIME, pooled=[P,RH,WV],
       static=[T,P,RH,WV]+TIME, head_bias=True, hidden=8, hourly=[T,P,RH,WV], hours=24, stride=1, epochs=8, patience=3),
 ],
}
if __name__ == "__main__":
    for g in sys.argv[1:]:
        for e in EXPS[g]:
            nn.run(dict(nn.DEFAULT, **e))
