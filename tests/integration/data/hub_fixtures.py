"""A few rows of each Hub dataset in its real schema, written where the Hub snapshot would put them.

Field names and types follow each dataset's card and viewer (as its recipe's docstring lists them); images are written the way
``datasets`` stores them (an ``Image`` feature: ``{"bytes", "path"}`` structs in parquet, with the
feature metadata), by ``datasets`` itself. Each writer returns the directory to pass as ``data.path``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image


def png(seed: int, size: tuple[int, int] = (48, 40)) -> dict[str, Any]:
    image = Image.new("RGB", size, (40 * seed % 256, 90, 200))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return {"bytes": buf.getvalue(), "path": f"{seed}.png"}


def write_parquet(path: Path, rows: list[dict[str, Any]], features: Any) -> None:
    from datasets import Dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows, features=features).to_parquet(str(path))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def geometry3k(root: Path) -> Path:
    from datasets import Features, Image, List, Value

    features = Features(
        {
            "images": List(Image()),
            "problem": Value("string"),
            "answer": Value("string"),
            "id": Value("string"),
            "choices": List(Value("string")),
            "ground_truth": Value("string"),
        }
    )
    rows = [
        {"images": [png(1)], "problem": "<image>Find x.", "answer": "3", "id": "2101",
         "choices": ["1", "2", "3", "4"], "ground_truth": "C"},
        {"images": [png(2)], "problem": "<image>Find y. Round to the nearest tenth.", "answer": "374.1", "id": "2102",
         "choices": ["187.1", "374.1", "561.2", "748.2"], "ground_truth": "B"},
        {"images": [png(3)], "problem": "<image>Find the length of AB.", "answer": "2 \\sqrt { 221 }", "id": "2103",
         "choices": ["2 \\sqrt { 221 }", "30", "32", "34"], "ground_truth": "A"},
    ]  # fmt: skip
    write_parquet(root / "data" / "train-00000-of-00001.parquet", rows, features)
    return root


def math_lighteval(root: Path) -> Path:
    from datasets import Features, Value

    features = Features({k: Value("string") for k in ("problem", "level", "type", "solution")})
    rows = [
        {"problem": "What is $2+3$?", "level": "Level 1", "type": "Prealgebra",
         "solution": "We add: $2+3=\\boxed{5}$."},
        {"problem": "Solve $2x=1$.", "level": "Level 3", "type": "Algebra",
         "solution": "Divide by 2: $x=\\boxed{\\frac{1}{2}}$."},
        {"problem": "Find the area.", "level": "Level 5", "type": "Geometry",
         "solution": "It is $\\boxed{12\\pi}$ square units."},
    ]  # fmt: skip
    write_parquet(root / "data" / "train-00000-of-00001.parquet", rows, features)
    return root


def math500(root: Path) -> Path:
    rows = [
        {"problem": "Convert $(0,3)$ to polar coordinates.", "solution": "...", "answer": "\\left( 3, \\frac{\\pi}{2} \\right)",
         "subject": "Precalculus", "level": 2, "unique_id": "test/precalculus/807.json"},
        {"problem": "What is $1+1$?", "solution": "...", "answer": "2", "subject": "Prealgebra", "level": 1,
         "unique_id": "test/prealgebra/1.json"},
    ]  # fmt: skip
    write_jsonl(root / "test.jsonl", rows)
    return root


def gsm8k(root: Path) -> Path:
    from datasets import Features, Value

    features = Features({"question": Value("string"), "answer": Value("string")})
    main = [
        {"question": "Natalia sold 48 clips in April and half as many in May. How many in total?",
         "answer": "In May she sold 48/2 = <<48/2=24>>24.\nTotal 48+24 = <<48+24=72>>72.\n#### 72"},
        {"question": "A farm has 1,000 hens and buys 234 more. How many hens?",
         "answer": "1000+234 = <<1000+234=1234>>1234\n#### 1,234"},
    ]  # fmt: skip
    socratic = [{"question": "Socratic copy?", "answer": "How many? ** 1\n#### 1"}]
    write_parquet(root / "main" / "train-00000-of-00001.parquet", main, features)
    write_parquet(root / "main" / "test-00000-of-00001.parquet", main[:1], features)
    write_parquet(root / "socratic" / "train-00000-of-00001.parquet", socratic, features)
    return root


def mathvista(root: Path) -> Path:
    from datasets import Features, Image, List, Value

    features = Features(
        {
            "pid": Value("string"),
            "question": Value("string"),
            "image": Value("string"),
            "decoded_image": Image(),
            "choices": List(Value("string")),
            "unit": Value("string"),
            "precision": Value("float64"),
            "answer": Value("string"),
            "question_type": Value("string"),
            "answer_type": Value("string"),
            "metadata": {
                "category": Value("string"),
                "context": Value("string"),
                "grade": Value("string"),
                "img_height": Value("int64"),
                "img_width": Value("int64"),
                "language": Value("string"),
                "skills": List(Value("string")),
                "source": Value("string"),
                "split": Value("string"),
                "task": Value("string"),
            },
            "query": Value("string"),
        }
    )

    def meta(task: str) -> dict[str, Any]:
        return {"category": "math-targeted-vqa", "context": "geometry diagram", "grade": "high school",
                "img_height": 40, "img_width": 48, "language": "english", "skills": ["geometry reasoning"],
                "source": "Geometry3K", "split": "testmini", "task": task}  # fmt: skip

    rows = [
        {"pid": "1", "question": "Find the measure of angle B.", "image": "images/1.jpg", "decoded_image": png(4),
         "choices": ["45°", "90°", "145°", "180°"], "unit": None, "precision": None, "answer": "145°",
         "question_type": "multi_choice", "answer_type": "text", "metadata": meta("geometry problem solving"),
         "query": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n"
                  "Question: Find the measure of angle B.\nChoices:\n(A) 45°\n(B) 90°\n(C) 145°\n(D) 180°"},
        {"pid": "2", "question": "How many bars are there?", "image": "images/2.jpg", "decoded_image": png(5),
         "choices": None, "unit": None, "precision": None, "answer": "4", "question_type": "free_form",
         "answer_type": "integer", "metadata": meta("figure question answering"),
         "query": "Hint: Please answer the question requiring an integer answer and provide the final value, "
                  "e.g., 1, 2, 3, at the end.\nQuestion: How many bars are there?"},
        {"pid": "3", "question": "What is the slope?", "image": "images/3.jpg", "decoded_image": png(6),
         "choices": None, "unit": None, "precision": 1.0, "answer": "0.5", "question_type": "free_form",
         "answer_type": "float", "metadata": meta("figure question answering"),
         "query": "Hint: Please answer the question requiring a floating-point number with one decimal place and "
                  "provide the final value, e.g., 1.2, 1.3, 1.4, at the end.\nQuestion: What is the slope?"},
    ]  # fmt: skip
    write_parquet(root / "data" / "testmini-00000-of-00001-725687bf7a18d64b.parquet", rows, features)
    return root


def mathverse(root: Path) -> Path:
    from datasets import Features, Image, Value

    features = Features(
        {
            "sample_index": Value("string"),
            "problem_index": Value("string"),
            "problem_version": Value("string"),
            "question": Value("string"),
            "image": Image(),
            "answer": Value("string"),
            "question_type": Value("string"),
            "metadata": {
                "split": Value("string"),
                "source": Value("string"),
                "subject": Value("string"),
                "subfield": Value("string"),
            },
            "query_wo": Value("string"),
            "query_cot": Value("string"),
        }
    )
    meta = {"split": "testmini", "source": "GeoQA", "subject": "Plane Geometry", "subfield": "Angle"}
    rows = [
        {"sample_index": "1", "problem_index": "1", "problem_version": "Text Dominant",
         "question": "As shown in the figure, AB is parallel to CD. Find angle 2.\nChoices:\nA:40°\nB:60°\nC:80°\nD:100°",
         "image": png(7), "answer": "B", "question_type": "multi-choice", "metadata": meta,
         "query_wo": "Please directly answer ...", "query_cot": "Please first conduct reasoning ..."},
        {"sample_index": "5", "problem_index": "1", "problem_version": "Vision Only", "question": "",
         "image": png(8), "answer": "B", "question_type": "multi-choice", "metadata": meta,
         "query_wo": "According to the question shown in the image, please directly answer ...",
         "query_cot": "According to the question shown in the image, please first conduct reasoning, and then "
                      "answer the question and provide the correct option letter, e.g., A, B, C, D, at the end."},
        {"sample_index": "11", "problem_index": "3", "problem_version": "Text Lite",
         "question": "Find the length of BC.", "image": png(9), "answer": "5", "question_type": "free-form",
         "metadata": {**meta, "subfield": "Length"}, "query_wo": "...", "query_cot": "..."},
    ]  # fmt: skip
    write_parquet(root / "testmini.parquet", rows, features)
    return root


def mathvision(root: Path) -> Path:
    from datasets import Features, Image, List, Value

    features = Features(
        {
            "id": Value("string"),
            "question": Value("string"),
            "options": List(Value("string")),
            "image": Value("string"),
            "decoded_image": Image(),
            "answer": Value("string"),
            "solution": Value("string"),
            "level": Value("int64"),
            "subject": Value("string"),
        }
    )
    rows = [
        {"id": "1", "question": "Which number is hidden behind the square?\n<image1>", "options": ["A", "B", "C", "D", "E"],
         "image": "images/1.jpg", "decoded_image": png(10), "answer": "C", "solution": None, "level": 2,
         "subject": "arithmetic"},
        {"id": "2", "question": "How many triangles are there? <image1>", "options": ["3", "4", "5", "6", "7"],
         "image": "images/2.jpg", "decoded_image": png(11), "answer": "B", "solution": None, "level": 1,
         "subject": "counting"},
        {"id": "3", "question": "<image1>\nWhat fraction of the square is shaded?", "options": [],
         "image": "images/3.jpg", "decoded_image": png(12), "answer": "$\\frac{1}{3}$", "solution": "...", "level": 3,
         "subject": "metric geometry - area"},
    ]  # fmt: skip
    write_parquet(root / "data" / "test-00000-of-00001.parquet", rows, features)
    return root


def chartqa(root: Path) -> Path:
    from datasets import ClassLabel, Features, Image, List, Value

    features = Features(
        {
            "image": Image(),
            "query": Value("string"),
            "label": List(Value("string")),
            "human_or_machine": ClassLabel(names=["human", "machine"]),
        }
    )
    rows = [
        {
            "image": png(13),
            "query": "What is the value of the tallest bar?",
            "label": ["46"],
            "human_or_machine": 0,
        },
        {
            "image": png(14),
            "query": "Which year has the lowest sales?",
            "label": ["2014"],
            "human_or_machine": 1,
        },
        {"image": png(15), "query": "Is the line increasing?", "label": ["Yes"], "human_or_machine": 0},
    ]
    write_parquet(root / "data" / "test-00000-of-00001.parquet", rows, features)
    return root


def aime24(root: Path) -> Path:
    from datasets import Features, Value

    features = Features(
        {
            "id": Value("int64"),
            "problem": Value("string"),
            "solution": Value("string"),
            "answer": Value("string"),
            "url": Value("string"),
            "year": Value("string"),
        }
    )
    rows = [
        {"id": 60, "problem": "Find the remainder when $2^{10}$ is divided by 1000.", "solution": "...", "answer": "24",
         "url": "https://artofproblemsolving.com/wiki/index.php/2024_AIME_I_Problems/Problem_1", "year": "2024"},
        {"id": 61, "problem": "Find $m+n$.", "solution": "...", "answer": "204", "url": "https://aops.com", "year": "2024"},
    ]  # fmt: skip
    write_parquet(root / "data" / "train-00000-of-00001.parquet", rows, features)
    return root


def aime25(root: Path) -> Path:
    rows = [
        {"problem": "Find the sum of all integer bases $b>9$ for which $17_b$ divides $97_b$.", "answer": "70", "id": "0"},
        {"problem": "Find the number of ordered pairs.", "answer": "117", "id": "1"},
    ]  # fmt: skip
    write_jsonl(root / "test.jsonl", rows)
    return root


def amc23(root: Path) -> Path:
    from datasets import Features, Value

    features = Features(
        {
            "id": Value("int64"),
            "question": Value("string"),
            "answer": Value("float64"),
            "url": Value("string"),
        }
    )
    rows = [
        {
            "id": 0,
            "question": "Cities A and B are 45 miles apart. Where do they meet?",
            "answer": 27.0,
            "url": "u0",
        },
        {"id": 1, "question": "What is the value of $x$?", "answer": 0.5, "url": "u1"},
    ]
    write_parquet(root / "test-00000-of-00001.parquet", rows, features)
    return root
