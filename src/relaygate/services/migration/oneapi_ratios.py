"""One API's built-in default ratios (relay/billing/ratio/model.go at 8df4a26), as data.

One API consults these whenever the ModelRatio / CompletionRatio options lack a model, so an importer
needs them to reproduce its prices. Values are exact (Go constant arithmetic: USD = 500, RMB = USD / 7);
``a/b`` marks a value without a finite decimal.
"""

from __future__ import annotations

from fractions import Fraction

_MODEL_RATIO = """
gpt-4=15 gpt-4-0314=15 gpt-4-0613=15 gpt-4-32k=30 gpt-4-32k-0314=30 gpt-4-32k-0613=30 gpt-4-1106-preview=5
gpt-4-0125-preview=5 gpt-4-turbo-preview=5 gpt-4-turbo=5 gpt-4-turbo-2024-04-09=5 gpt-4o=2.5
chatgpt-4o-latest=2.5 gpt-4o-2024-05-13=2.5 gpt-4o-2024-08-06=1.25 gpt-4o-2024-11-20=1.25 gpt-4o-mini=0.075
gpt-4o-mini-2024-07-18=0.075 gpt-4-vision-preview=5 gpt-3.5-turbo=0.25 gpt-3.5-turbo-0301=0.75
gpt-3.5-turbo-0613=0.75 gpt-3.5-turbo-16k=1.5 gpt-3.5-turbo-16k-0613=1.5 gpt-3.5-turbo-instruct=0.75
gpt-3.5-turbo-1106=0.5 gpt-3.5-turbo-0125=0.25 o1=7.5 o1-2024-12-17=7.5 o1-preview=7.5 o1-preview-2024-09-12=7.5
o1-mini=1.5 o1-mini-2024-09-12=1.5 o3-mini=1.5 o3-mini-2025-01-31=1.5 davinci-002=1 babbage-002=0.2
text-ada-001=0.2 text-babbage-001=0.25 text-curie-001=1 text-davinci-002=10 text-davinci-003=10
text-davinci-edit-001=10 code-davinci-edit-001=10 whisper-1=15 tts-1=7.5 tts-1-1106=7.5 tts-1-hd=15
tts-1-hd-1106=15 davinci=10 curie=10 babbage=10 ada=10 text-embedding-ada-002=0.05 text-embedding-3-small=0.01
text-embedding-3-large=0.065 text-search-ada-doc-001=10 text-moderation-stable=0.1 text-moderation-latest=0.1
dall-e-2=10 dall-e-3=20 claude-instant-1.2=0.4 claude-2.0=4 claude-2.1=4 claude-3-haiku-20240307=0.125
claude-3-5-haiku-20241022=0.5 claude-3-5-haiku-latest=0.5 claude-3-sonnet-20240229=1.5
claude-3-5-sonnet-20240620=1.5 claude-3-5-sonnet-20241022=1.5 claude-3-5-sonnet-latest=1.5
claude-3-opus-20240229=7.5 ERNIE-4.0-8K=60/7 ERNIE-3.5-8K=6/7 ERNIE-3.5-8K-0205=12/7 ERNIE-3.5-8K-1222=6/7
ERNIE-Bot-8K=12/7 ERNIE-3.5-4K-0205=6/7 ERNIE-Speed-8K=2/7 ERNIE-Speed-128K=2/7 ERNIE-Lite-8K-0922=4/7
ERNIE-Lite-8K-0308=3/14 ERNIE-Tiny-8K=1/14 BLOOMZ-7B=2/7 Embedding-V1=1/7 bge-large-zh=1/7 bge-large-en=1/7
tao-8k=1/7 gemini-pro=0.125 gemini-1.0-pro=0.0625 gemini-1.5-pro=0.625 gemini-1.5-pro-001=0.625
gemini-1.5-pro-experimental=0.625 gemini-1.5-flash=0.0375 gemini-1.5-flash-001=0.0375
gemini-1.5-flash-8b=0.01875 gemini-2.0-flash-exp=0.0375 gemini-2.0-flash=0.075 gemini-2.0-flash-001=0.075
gemini-2.0-flash-lite-preview-02-05=0.0375 gemini-2.0-flash-thinking-exp-01-21=0.0375
gemini-2.0-pro-exp-02-05=0.625 aqa=1 glm-zero-preview=5/7 glm-4-plus=25/7 glm-4-0520=50/7 glm-4-airx=5/7
glm-4-air=1/28 glm-4-long=1/14 glm-4-flashx=1/140 glm-4-flash=0 glm-4=50/7 glm-3-turbo=1/14 glm-4v-plus=2/7
glm-4v=25/7 glm-4v-flash=0 cogview-3-plus=30/7 cogview-3=50/7 cogview-3-flash=0 cogviewx=250/7 cogviewx-flash=0
charglm-4=1/14 emohaa=15/14 codegeex-4=1/140 embedding-2=1/28 embedding-3=1/28 qwen-turbo=3/140
qwen-turbo-latest=3/140 qwen-plus=2/35 qwen-plus-latest=2/35 qwen-max=6/35 qwen-max-latest=6/35
qwen-max-longcontext=1/28 qwen-vl-max=3/14 qwen-vl-max-latest=3/14 qwen-vl-plus=3/28 qwen-vl-plus-latest=3/28
qwen-vl-ocr=5/14 qwen-vl-ocr-latest=5/14 qwen-audio-turbo=1.4286 qwen-math-plus=2/7 qwen-math-plus-latest=2/7
qwen-math-turbo=1/7 qwen-math-turbo-latest=1/7 qwen-coder-plus=0.25 qwen-coder-plus-latest=0.25
qwen-coder-turbo=1/7 qwen-coder-turbo-latest=1/7 qwen-mt-plus=15/14 qwen-mt-turbo=1/14 qwq-32b-preview=1/7
qwen2.5-72b-instruct=2/7 qwen2.5-32b-instruct=15/7 qwen2.5-14b-instruct=1/14 qwen2.5-7b-instruct=1/28
qwen2.5-3b-instruct=3/7 qwen2.5-1.5b-instruct=3/140 qwen2.5-0.5b-instruct=3/140 qwen2-72b-instruct=2/7
qwen2-57b-a14b-instruct=0.25 qwen2-7b-instruct=1/14 qwen2-1.5b-instruct=1/14 qwen2-0.5b-instruct=1/14
qwen1.5-110b-chat=0.5 qwen1.5-72b-chat=5/14 qwen1.5-32b-chat=0.25 qwen1.5-14b-chat=1/7 qwen1.5-7b-chat=1/14
qwen1.5-1.8b-chat=1/14 qwen1.5-0.5b-chat=1/14 qwen-72b-chat=10/7 qwen-14b-chat=4/7 qwen-7b-chat=3/7
qwen-1.8b-chat=3/7 qwen-1.8b-longcontext-chat=3/7 qvq-72b-preview=6/7 qwen2.5-vl-72b-instruct=8/7
qwen2.5-vl-7b-instruct=1/7 qwen2.5-vl-3b-instruct=3/35 qwen2-vl-7b-instruct=8/7 qwen2-vl-2b-instruct=1/7
qwen-vl-v1=1/7 qwen-vl-chat-v1=1/7 qwen2-audio-instruct=1/7 qwen-audio-chat=1/7 qwen2.5-math-72b-instruct=2/7
qwen2.5-math-7b-instruct=1/14 qwen2.5-math-1.5b-instruct=1/14 qwen2-math-72b-instruct=2/7
qwen2-math-7b-instruct=1/14 qwen2-math-1.5b-instruct=1/14 qwen2.5-coder-32b-instruct=1/7
qwen2.5-coder-14b-instruct=1/7 qwen2.5-coder-7b-instruct=1/14 qwen2.5-coder-3b-instruct=1/14
qwen2.5-coder-1.5b-instruct=1/14 qwen2.5-coder-0.5b-instruct=1/14 text-embedding-v1=0.05 text-embedding-v3=0.05
text-embedding-v2=0.05 text-embedding-async-v2=0.05 text-embedding-async-v1=0.05 ali-stable-diffusion-xl=8
ali-stable-diffusion-v1.5=8 wanx-v1=8 deepseek-r1=1/7 deepseek-v3=1/14 deepseek-r1-distill-qwen-1.5b=1/14
deepseek-r1-distill-qwen-7b=1/28 deepseek-r1-distill-qwen-14b=1/14 deepseek-r1-distill-qwen-32b=1/7
deepseek-r1-distill-llama-8b=1/28 deepseek-r1-distill-llama-70b=2/7 SparkDesk=1.2858 SparkDesk-v1.1=1.2858
SparkDesk-v2.1=1.2858 SparkDesk-v3.1=1.2858 SparkDesk-v3.1-128K=1.2858 SparkDesk-v3.5=1.2858
SparkDesk-v3.5-32K=1.2858 SparkDesk-v4.0=1.2858 360GPT_S2_V9=0.8572 embedding-bert-512-v1=0.0715
embedding_s1_v1=0.0715 semantic_similarity_s1_v1=0.0715 hunyuan-turbo=15/14 hunyuan-large=2/7
hunyuan-large-longcontext=3/7 hunyuan-standard=2/35 hunyuan-standard-256K=1/28 hunyuan-translation-lite=5/14
hunyuan-role=2/7 hunyuan-functioncall=2/7 hunyuan-code=2/7 hunyuan-turbo-vision=40/7 hunyuan-vision=9/7
hunyuan-embedding=0.05 moonshot-v1-8k=6/7 moonshot-v1-32k=12/7 moonshot-v1-128k=30/7 Baichuan2-Turbo=4/7
Baichuan2-Turbo-192k=8/7 Baichuan2-53B=10/7 abab6.5-chat=15/7 abab6.5s-chat=5/7 abab6-chat=50/7
abab5.5-chat=15/14 abab5.5s-chat=5/14 open-mistral-7b=0.125 open-mixtral-8x7b=0.35 mistral-small-latest=1
mistral-medium-latest=1.35 mistral-large-latest=4 mistral-embed=0.05 gemma-7b-it=0.000035 gemma2-9b-it=0.0001
llama-3.1-70b-versatile=0.000295 llama-3.1-8b-instant=0.000025 llama-3.2-11b-text-preview=0.000025
llama-3.2-11b-vision-preview=0.000025 llama-3.2-1b-preview=0.000025 llama-3.2-3b-preview=0.000025
llama-3.2-90b-text-preview=0.000295 llama-guard-3-8b=0.000025 llama3-70b-8192=0.000295 llama3-8b-8192=0.000025
llama3-groq-70b-8192-tool-use-preview=0.000445 llama3-groq-8b-8192-tool-use-preview=0.000095
mixtral-8x7b-32768=0.00012 yi-34b-chat-0205=5/28 yi-34b-chat-200k=6/7 yi-vl-plus=3/7 step-1-8k=1/2800
step-1-32k=3/2800 step-1-128k=1/350 step-1-256k=19/2800 step-1-flash=1/14000 step-2-16k=19/7000
step-1v-8k=1/2800 step-1v-32k=3/2800 llama3-8b-8192(33)=0.15 llama3-70b-8192(33)=1.325 command=0.5
command-nightly=0.5 command-light=0.5 command-light-nightly=0.5 command-r=0.25 command-r-plus=1.5
deepseek-chat=0.07 deepseek-reasoner=0.275 deepl-zh=12.5 deepl-en=12.5 deepl-ja=12.5 grok-beta=2.5
black-forest-labs/flux-1.1-pro=20 black-forest-labs/flux-1.1-pro-ultra=30 black-forest-labs/flux-canny-dev=12.5
black-forest-labs/flux-canny-pro=25 black-forest-labs/flux-depth-dev=12.5 black-forest-labs/flux-depth-pro=25
black-forest-labs/flux-dev=12.5 black-forest-labs/flux-dev-lora=16 black-forest-labs/flux-fill-dev=20
black-forest-labs/flux-fill-pro=25 black-forest-labs/flux-pro=27.5 black-forest-labs/flux-redux-dev=12.5
black-forest-labs/flux-redux-schnell=1.5 black-forest-labs/flux-schnell=1.5
black-forest-labs/flux-schnell-lora=10 ideogram-ai/ideogram-v2=40 ideogram-ai/ideogram-v2-turbo=25
recraft-ai/recraft-v3=20 recraft-ai/recraft-v3-svg=40 stability-ai/stable-diffusion-3=17.5
stability-ai/stable-diffusion-3.5-large=32.5 stability-ai/stable-diffusion-3.5-large-turbo=20
stability-ai/stable-diffusion-3.5-medium=17.5 ibm-granite/granite-20b-code-instruct-8k=50
ibm-granite/granite-3.0-2b-instruct=15 ibm-granite/granite-3.0-8b-instruct=25
ibm-granite/granite-8b-code-instruct-128k=25 meta/llama-2-13b=50 meta/llama-2-13b-chat=50 meta/llama-2-70b=325
meta/llama-2-70b-chat=325 meta/llama-2-7b=25 meta/llama-2-7b-chat=25 meta/meta-llama-3.1-405b-instruct=4750
meta/meta-llama-3-70b=325 meta/meta-llama-3-70b-instruct=325 meta/meta-llama-3-8b=25
meta/meta-llama-3-8b-instruct=25 mistralai/mistral-7b-instruct-v0.2=25 mistralai/mistral-7b-v0.1=25
mistralai/mixtral-8x7b-instruct-v0.1=150 01-ai/yi-large=1.5 aetherwiing/mn-starcannon-12b=0.6
ai21/jamba-1-5-large=4 ai21/jamba-1-5-mini=0.2 ai21/jamba-instruct=0.35 aion-labs/aion-1.0=6
aion-labs/aion-1.0-mini=1.2 aion-labs/aion-rp-llama-3.1-8b=0.1 allenai/llama-3.1-tulu-3-405b=5
alpindale/goliath-120b=4.6875 alpindale/magnum-72b=1.125 amazon/nova-lite-v1=0.12 amazon/nova-micro-v1=0.07
amazon/nova-pro-v1=1.6 anthracite-org/magnum-v2-72b=1.5 anthracite-org/magnum-v4-72b=1.125 anthropic/claude-2=12
anthropic/claude-2.0=12 anthropic/claude-2.0:beta=12 anthropic/claude-2.1=12 anthropic/claude-2.1:beta=12
anthropic/claude-2:beta=12 anthropic/claude-3-haiku=0.625 anthropic/claude-3-haiku:beta=0.625
anthropic/claude-3-opus=37.5 anthropic/claude-3-opus:beta=37.5 anthropic/claude-3-sonnet=7.5
anthropic/claude-3-sonnet:beta=7.5 anthropic/claude-3.5-haiku=2 anthropic/claude-3.5-haiku-20241022=2
anthropic/claude-3.5-haiku-20241022:beta=2 anthropic/claude-3.5-haiku:beta=2 anthropic/claude-3.5-sonnet=7.5
anthropic/claude-3.5-sonnet-20240620=7.5 anthropic/claude-3.5-sonnet-20240620:beta=7.5
anthropic/claude-3.5-sonnet:beta=7.5 cognitivecomputations/dolphin-mixtral-8x22b=0.45
cognitivecomputations/dolphin-mixtral-8x7b=0.25 cohere/command=0.95 cohere/command-r=0.7125
cohere/command-r-03-2024=0.7125 cohere/command-r-08-2024=0.285 cohere/command-r-plus=7.125
cohere/command-r-plus-04-2024=7.125 cohere/command-r-plus-08-2024=4.75 cohere/command-r7b-12-2024=0.075
databricks/dbrx-instruct=0.6 deepseek/deepseek-chat=0.445 deepseek/deepseek-chat-v2.5=1
deepseek/deepseek-chat:free=0 deepseek/deepseek-r1=1.2 deepseek/deepseek-r1-distill-llama-70b=0.345
deepseek/deepseek-r1-distill-llama-70b:free=0 deepseek/deepseek-r1-distill-llama-8b=0.02
deepseek/deepseek-r1-distill-qwen-1.5b=0.09 deepseek/deepseek-r1-distill-qwen-14b=0.075
deepseek/deepseek-r1-distill-qwen-32b=0.09 deepseek/deepseek-r1:free=0 eva-unit-01/eva-llama-3.33-70b=3
eva-unit-01/eva-qwen-2.5-32b=1.7 eva-unit-01/eva-qwen-2.5-72b=3 google/gemini-2.0-flash-001=0.2
google/gemini-2.0-flash-exp:free=0 google/gemini-2.0-flash-lite-preview-02-05:free=0
google/gemini-2.0-flash-thinking-exp-1219:free=0 google/gemini-2.0-flash-thinking-exp:free=0
google/gemini-2.0-pro-exp-02-05:free=0 google/gemini-exp-1206:free=0 google/gemini-flash-1.5=0.15
google/gemini-flash-1.5-8b=0.075 google/gemini-flash-1.5-8b-exp=0 google/gemini-pro=0.75
google/gemini-pro-1.5=2.5 google/gemini-pro-vision=0.75 google/gemma-2-27b-it=0.135 google/gemma-2-9b-it=0.03
google/gemma-2-9b-it:free=0 google/gemma-7b-it=0.075 google/learnlm-1.5-pro-experimental:free=0
google/palm-2-chat-bison=1 google/palm-2-chat-bison-32k=1 google/palm-2-codechat-bison=1
google/palm-2-codechat-bison-32k=1 gryphe/mythomax-l2-13b=0.0325 gryphe/mythomax-l2-13b:free=0
huggingfaceh4/zephyr-7b-beta:free=0 infermatic/mn-inferor-12b=0.6 inflection/inflection-3-pi=5
inflection/inflection-3-productivity=5 jondurbin/airoboros-l2-70b=0.25 liquid/lfm-3b=0.01 liquid/lfm-40b=0.075
liquid/lfm-7b=0.005 mancer/weaver=1.125 meta-llama/llama-2-13b-chat=0.11 meta-llama/llama-2-70b-chat=0.45
meta-llama/llama-3-70b-instruct=0.2 meta-llama/llama-3-8b-instruct=0.03 meta-llama/llama-3-8b-instruct:free=0
meta-llama/llama-3.1-405b=1 meta-llama/llama-3.1-405b-instruct=0.4 meta-llama/llama-3.1-70b-instruct=0.15
meta-llama/llama-3.1-8b-instruct=0.025 meta-llama/llama-3.2-11b-vision-instruct=0.0275
meta-llama/llama-3.2-11b-vision-instruct:free=0 meta-llama/llama-3.2-1b-instruct=0.005
meta-llama/llama-3.2-3b-instruct=0.0125 meta-llama/llama-3.2-90b-vision-instruct=0.8
meta-llama/llama-3.3-70b-instruct=0.15 meta-llama/llama-3.3-70b-instruct:free=0 meta-llama/llama-guard-2-8b=0.1
microsoft/phi-3-medium-128k-instruct=0.5 microsoft/phi-3-medium-128k-instruct:free=0
microsoft/phi-3-mini-128k-instruct=0.05 microsoft/phi-3-mini-128k-instruct:free=0
microsoft/phi-3.5-mini-128k-instruct=0.05 microsoft/phi-4=0.07 microsoft/wizardlm-2-7b=0.035
microsoft/wizardlm-2-8x22b=0.25 minimax/minimax-01=0.55 mistralai/codestral-2501=0.45
mistralai/codestral-mamba=0.125 mistralai/ministral-3b=0.02 mistralai/ministral-8b=0.05
mistralai/mistral-7b-instruct=0.0275 mistralai/mistral-7b-instruct-v0.1=0.1
mistralai/mistral-7b-instruct-v0.3=0.0275 mistralai/mistral-7b-instruct:free=0 mistralai/mistral-large=3
mistralai/mistral-large-2407=3 mistralai/mistral-large-2411=3 mistralai/mistral-medium=4.05
mistralai/mistral-nemo=0.04 mistralai/mistral-nemo:free=0 mistralai/mistral-small=0.3
mistralai/mistral-small-24b-instruct-2501=0.07 mistralai/mistral-small-24b-instruct-2501:free=0
mistralai/mistral-tiny=0.125 mistralai/mixtral-8x22b-instruct=0.45 mistralai/mixtral-8x7b=0.3
mistralai/mixtral-8x7b-instruct=0.12 mistralai/pixtral-12b=0.05 mistralai/pixtral-large-2411=3
neversleep/llama-3-lumimaid-70b=2.25 neversleep/llama-3-lumimaid-8b=0.5625
neversleep/llama-3-lumimaid-8b:extended=0.5625 neversleep/llama-3.1-lumimaid-70b=2.25
neversleep/llama-3.1-lumimaid-8b=0.5625 neversleep/noromaid-20b=1.125 nothingiisreal/mn-celeste-12b=0.6
nousresearch/hermes-2-pro-llama-3-8b=0.02 nousresearch/hermes-3-llama-3.1-405b=0.4
nousresearch/hermes-3-llama-3.1-70b=0.15 nousresearch/nous-hermes-2-mixtral-8x7b-dpo=0.3
nousresearch/nous-hermes-llama2-13b=0.085 nvidia/llama-3.1-nemotron-70b-instruct=0.15
nvidia/llama-3.1-nemotron-70b-instruct:free=0 openai/chatgpt-4o-latest=7.5 openai/gpt-3.5-turbo=0.75
openai/gpt-3.5-turbo-0125=0.75 openai/gpt-3.5-turbo-0613=1 openai/gpt-3.5-turbo-1106=1
openai/gpt-3.5-turbo-16k=2 openai/gpt-3.5-turbo-instruct=1 openai/gpt-4=30 openai/gpt-4-0314=30
openai/gpt-4-1106-preview=15 openai/gpt-4-32k=60 openai/gpt-4-32k-0314=60 openai/gpt-4-turbo=15
openai/gpt-4-turbo-preview=15 openai/gpt-4o=5 openai/gpt-4o-2024-05-13=7.5 openai/gpt-4o-2024-08-06=5
openai/gpt-4o-2024-11-20=5 openai/gpt-4o-mini=0.3 openai/gpt-4o-mini-2024-07-18=0.3 openai/gpt-4o:extended=9
openai/o1=30 openai/o1-mini=2.2 openai/o1-mini-2024-09-12=2.2 openai/o1-preview=30
openai/o1-preview-2024-09-12=30 openai/o3-mini=2.2 openai/o3-mini-high=2.2 openchat/openchat-7b=0.0275
openchat/openchat-7b:free=0 openrouter/auto=-500000 perplexity/llama-3.1-sonar-huge-128k-online=2.5
perplexity/llama-3.1-sonar-large-128k-chat=0.5 perplexity/llama-3.1-sonar-large-128k-online=0.5
perplexity/llama-3.1-sonar-small-128k-chat=0.1 perplexity/llama-3.1-sonar-small-128k-online=0.1
perplexity/sonar=0.5 perplexity/sonar-reasoning=2.5 pygmalionai/mythalion-13b=0.6 qwen/qvq-72b-preview=0.25
qwen/qwen-2-72b-instruct=0.45 qwen/qwen-2-7b-instruct=0.027 qwen/qwen-2-7b-instruct:free=0
qwen/qwen-2-vl-72b-instruct=0.2 qwen/qwen-2-vl-7b-instruct=0.05 qwen/qwen-2.5-72b-instruct=0.2
qwen/qwen-2.5-7b-instruct=0.025 qwen/qwen-2.5-coder-32b-instruct=0.08 qwen/qwen-max=3.2 qwen/qwen-plus=0.6
qwen/qwen-turbo=0.1 qwen/qwen-vl-plus:free=0 qwen/qwen2.5-vl-72b-instruct:free=0 qwen/qwq-32b-preview=0.09
raifle/sorcererlm-8x22b=2.25 sao10k/fimbulvetr-11b-v2=0.6 sao10k/l3-euryale-70b=0.4 sao10k/l3-lunaris-8b=0.03
sao10k/l3.1-70b-hanami-x1=1.5 sao10k/l3.1-euryale-70b=0.4 sao10k/l3.3-euryale-70b=0.4
sophosympatheia/midnight-rose-70b=0.4 sophosympatheia/rogue-rose-103b-v0.2:free=0
teknium/openhermes-2.5-mistral-7b=0.085 thedrummer/rocinante-12b=0.25 thedrummer/unslopnemo-12b=0.25
undi95/remm-slerp-l2-13b=0.6 undi95/toppy-m-7b=0.035 undi95/toppy-m-7b:free=0 x-ai/grok-2-1212=5
x-ai/grok-2-vision-1212=5 x-ai/grok-beta=7.5 x-ai/grok-vision-beta=7.5 xwin-lm/xwin-lm-70b=1.875
"""

_COMPLETION_RATIO = """
llama3-8b-8192(33)=2 llama3-70b-8192(33)=70/53 whisper-1=0 deepseek-chat=2 deepseek-reasoner=219/55
"""


def _table(packed: str) -> dict[str, Fraction]:
    out: dict[str, Fraction] = {}
    for item in packed.split():
        name, _, value = item.rpartition("=")
        out[name] = Fraction(value)
    return out


MODEL_RATIO = _table(_MODEL_RATIO)
COMPLETION_RATIO = _table(_COMPLETION_RATIO)
