"""The last layer for the first token only: what the exported graph computes (bert_sentiment/onnx_export.py).

A sequence classifier of these architectures reads only the first token of the last layer's output ([CLS], <s>):
BERT's pooler takes it, RoBERTa's and ELECTRA's heads take it. The last layer's other outputs were computed and
thrown away; computing only the first keeps each text's answer and saves one layer's query, attention output and
feed-forward for every other token: about 7% of bert-base's multiply-adds a text, 14% of a 6-layer MiniLM's.
"""

import torch

# heads that read the last layer's first token and nothing else
FIRST_TOKEN_HEADS = (
    "BertForSequenceClassification",
    "RobertaForSequenceClassification",
    "XLMRobertaForSequenceClassification",
    "ElectraForSequenceClassification",
)


class FirstTokenLayer(torch.nn.Module):
    """A BERT layer (BertLayer's parts, as RoBERTa and ELECTRA have them) whose output is the first token's only:
    keys and values from every token, the query, the attention's output and the feed-forward from the first.
    Its output has one position, which is all the heads in FIRST_TOKEN_HEADS read. A layer built otherwise (missing
    parts, relative positions) fails or answers otherwise, and the export keeps it whole."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states, attention_mask=None, *args, **kwargs):
        attention = self.layer.attention.self
        first = hidden_states[:, :1]
        batch, heads, width = hidden_states.shape[0], attention.num_attention_heads, attention.attention_head_size

        def split(states):  # (batch, tokens, heads * width) -> (batch, heads, tokens, width)
            return states.view(batch, -1, heads, width).transpose(1, 2)

        if attention_mask is not None and attention_mask.dim() == 4:
            attention_mask = attention_mask[:, :, :1]  # the first token's row of the mask
        context = torch.nn.functional.scaled_dot_product_attention(
            split(attention.query(first)),
            split(attention.key(hidden_states)),
            split(attention.value(hidden_states)),
            attn_mask=attention_mask,
            scale=attention.scaling,
        )
        # (batch, heads, 1, width): with one query, the heads already lie in the order of their concatenation
        attended = self.layer.attention.output(context.reshape(batch, 1, heads * width), first)
        return self.layer.feed_forward_chunk(attended)
