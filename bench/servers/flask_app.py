"""The seed's Flask example: a scikit-learn pipeline loaded with joblib, one predict per request.

    BENCH_MODEL=/tmp/x/model.joblib /usr/bin/python3 flask_app.py PORT     # Flask dev server
    BENCH_MODEL=... gunicorn -w 2 -b 127.0.0.1:PORT flask_app:app         # gunicorn, 2 workers
"""
import os
import sys

import joblib
from flask import Flask, jsonify, request

app = Flask(__name__)
model = joblib.load(os.environ["BENCH_MODEL"])


@app.route("/health")
def health():
    return jsonify({"ok": True})


@app.route("/predict", methods=["POST"])
def predict():
    data = request.get_json()
    proba = model.predict_proba([data["features"]])
    return jsonify({"label": int(proba[0].argmax()), "probabilities": proba[0].tolist()})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))  # threaded=True is the dev server's default
