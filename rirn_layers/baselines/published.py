"""Numbers the papers publish, for checks and for the model zoo table.

ESTRNN (Zhong et al., ECCV 2020) GMACs per 720p output frame, counted with thop's rules:
tables 1 (B9, channels C#), 4 (C80, blocks B#) and 5 (B9C80, F# future / P# past frames).
Rows are ``(name, blocks, channels, past, future, gmacs)``. Table 4 prints 163.31 for
B9C80, where tables 1 and 5 give 163.61 for the same model (very likely a typo).
"""

from __future__ import annotations

ESTRNN_TABLE_1 = [
    ("B9C60", 9, 60, 2, 2, 92.57),
    ("B9C65", 9, 65, 2, 2, 108.20),
    ("B9C70", 9, 70, 2, 2, 125.55),
    ("B9C75", 9, 75, 2, 2, 143.71),
    ("B9C80", 9, 80, 2, 2, 163.61),
    ("B9C85", 9, 85, 2, 2, 184.25),
    ("B9C90", 9, 90, 2, 2, 206.70),
]
ESTRNN_TABLE_4 = [
    ("B3C80", 3, 80, 2, 2, 123.03),
    ("B6C80", 6, 80, 2, 2, 143.32),
    ("B9C80", 9, 80, 2, 2, 163.31),
    ("B12C80", 12, 80, 2, 2, 183.90),
    ("B15C80", 15, 80, 2, 2, 204.19),
]
ESTRNN_TABLE_5 = [
    ("F0P1", 9, 80, 1, 0, 119.93),
    ("F0P2", 9, 80, 2, 0, 133.75),
    ("F0P3", 9, 80, 3, 0, 148.31),
    ("F1P1", 9, 80, 1, 1, 133.75),
    ("F2P2", 9, 80, 2, 2, 163.61),
    ("F3P3", 9, 80, 3, 3, 196.42),
]
#: Other models' cost in ESTRNN table 1 (GMACs per 720p frame).
ESTRNN_TABLE_1_OTHERS = {"strcnn": 276.20}

#: RIRN table 3: (DVD PSNR, GOPRO PSNR, REDS PSNR, FPS) bare and with RIRN (IRM + ATB).
RIRN_TABLE_3 = {
    "ifirnn": ((30.53, 28.30, 30.01, 20.15), (30.97, 29.14, 31.08, 12.48)),
    "strcnn": ((29.15, 28.72, 30.23, 7.69), (30.17, 28.87, 30.76, 5.94)),
    "stfan": ((30.93, 28.77, 31.26, 6.66), (31.03, 29.24, 31.44, 4.42)),
    "rdbn": ((31.44, 29.82, 32.29, 10.50), (31.83, 30.17, 32.71, 8.53)),
    "gru": ((27.53, 25.11, 26.69, 22.24), (28.58, 26.36, 28.60, 20.94)),
    "lstm": ((26.94, 25.22, 26.87, 19.14), (29.16, 27.24, 29.12, 16.90)),
}
