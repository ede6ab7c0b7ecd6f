"""python latency.py -> the chosen graphs (untrained weights; timing/size only) converted to float32 TFLite like
/work/main/training/export.py does (fixed batch 1, builtins only) in the forms loop / unrolled / fused;
prints bundle bytes and mean single-thread invoke time."""
import os
import time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
import numpy as np
import tensorflow as tf
import tf_keras
import nn
from final import CHOSEN


def main():
    for name, c in CHOSEN.items():
        for form, km, unroll in (("fused", tf_keras, False), ("loop", keras, False), ("unrolled", keras, True)):
            cfg = dict(nn.DEFAULT, **c, unroll=unroll)
            model, fixed, denorm, ti = nn.build(km, cfg)
            for layer, w in fixed:
                layer.set_weights(w)
            win = km.Input((120, len(cfg["feats"])), batch_size=1)
            m1 = km.Model(win, model(win))
            conv = tf.lite.TFLiteConverter.from_keras_model(m1)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            try:
                blob = conv.convert()
            except Exception as e:
                print(f"{name} {form}: conversion failed {str(e)[:200]}")
                continue
            it = tf.lite.Interpreter(model_content=blob, num_threads=1)
            it.allocate_tensors()
            i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
            x = np.random.randn(1, 120, len(cfg["feats"])).astype(np.float32)
            it.set_tensor(i, x)
            it.invoke()
            n = 2000
            t0 = time.perf_counter()
            for _ in range(n):
                it.set_tensor(i, x)
                it.invoke()
                it.get_tensor(o)
            dt = (time.perf_counter() - t0) / n * 1e6
            print(f"{name} {form}: params {model.count_params()}, tflite {len(blob)} bytes, "
                  f"{dt:.1f} us/forecast", flush=True)


if __name__ == "__main__":
    main()
