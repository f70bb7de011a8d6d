"""Train the seed's model (StandardScaler + LogisticRegression on breast cancer) and joblib.dump it.

    /usr/bin/python3 train_flask_model.py OUT.joblib

Same data split and hyper-parameters as fixtures/models/make.py's breast_cancer, so the Flask
baseline answers the same question as the ONNX model the other servers run.
"""
import sys

import joblib
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
X_train, _, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
pipe = Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression(C=1.0, max_iter=5000))])
pipe.fit(X_train, y_train)
joblib.dump(pipe, sys.argv[1])
