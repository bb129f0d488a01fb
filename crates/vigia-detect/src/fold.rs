//! Folds inference-time batch normalisation into the depthwise
//! convolution before it.
//!
//! tract folds a per-channel multiply or add into an ordinary
//! convolution's weights and bias, but not into a depthwise one (its rule
//! is limited to `group == 1`), so every MobileNet depthwise layer would
//! otherwise pay two extra passes over its whole output. Two steps:
//! [`fold_depthwise_batch_norms`] multiplies the scale into the filter in
//! the TensorFlow graph itself (the `FusedBatchNorm` becomes a
//! `BiasAdd`; the arithmetic is TensorFlow's for inference, `y = (x -
//! mean) * scale / sqrt(variance + epsilon) + offset`), then
//! [`fold_depthwise_bias_adds`] moves that add into the convolution's own
//! bias in tract's typed model.

use std::collections::HashMap;

use tract_tensorflow::prelude::*;
use tract_tensorflow::tfpb::tensorflow::{DataType, GraphDef, NodeDef, TensorProto};
use tract_tensorflow::tract_core::ops::binary::TypedBinOp;
use tract_tensorflow::tract_core::ops::cnn::Conv;
use tract_tensorflow::tract_core::ops::math::Add;

/// Rewrites every `FusedBatchNorm` that follows a depthwise convolution
/// with a constant filter (used by nothing else) and constant statistics,
/// and returns how many it folded. Anything else is left as it was.
pub fn fold_depthwise_batch_norms(graph: &mut GraphDef) -> TractResult<usize> {
    let consumers = consumer_counts(graph);
    let index: HashMap<String, usize> = graph
        .node
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.clone(), i))
        .collect();
    let mut folded = 0;
    for bn in 0..graph.node.len() {
        let Some(plan) = plan_fold(graph, &index, &consumers, bn)? else {
            continue;
        };
        apply(graph, bn, plan)?;
        folded += 1;
    }
    Ok(folded)
}

/// What one fold changes: the filter constant's new value, and the bias.
struct Fold {
    filter_const: usize,
    filter: Tensor,
    bias: Tensor,
}

fn plan_fold(
    graph: &GraphDef,
    index: &HashMap<String, usize>,
    consumers: &HashMap<String, usize>,
    bn: usize,
) -> TractResult<Option<Fold>> {
    let node = &graph.node[bn];
    if !matches!(node.op.as_str(), "FusedBatchNorm" | "FusedBatchNormV3")
        || node.input.len() < 5
        || node.get_attr_opt_bool("is_training")? == Some(true)
    {
        return Ok(None);
    }
    let Some(conv) = index.get(node_name(&node.input[0])).copied() else {
        return Ok(None);
    };
    let conv_node = &graph.node[conv];
    if conv_node.op != "DepthwiseConv2dNative"
        || consumers.get(&conv_node.name).copied() != Some(1)
        || conv_node.input.len() != 2
    {
        return Ok(None);
    }
    let Some(filter_const) = const_behind(graph, index, &conv_node.input[1], Some(consumers))
    else {
        return Ok(None);
    };
    let mut stats = Vec::with_capacity(4);
    for input in &node.input[1..5] {
        let Some(c) = const_behind(graph, index, input, None) else {
            return Ok(None);
        };
        stats.push(f32_values(&graph.node[c])?);
    }
    let epsilon: f32 = node.get_attr_opt_float("epsilon")?.unwrap_or(1e-3);
    let (scale, offset, mean, variance) = (&stats[0], &stats[1], &stats[2], &stats[3]);
    let channels = scale.len();
    if [offset, mean, variance].iter().any(|v| v.len() != channels) || channels == 0 {
        return Ok(None);
    }
    let filter = graph.node[filter_const].get_attr_tensor("value")?;
    // A depthwise filter is [height, width, in channels, multiplier]; its
    // output channel `c * multiplier + m` is the flat index modulo the
    // product of the last two dimensions.
    let shape = filter.shape().to_vec();
    if shape.len() != 4
        || shape[2] * shape[3] != channels
        || filter.datum_type() != f32::datum_type()
    {
        return Ok(None);
    }
    let slope: Vec<f32> = scale
        .iter()
        .zip(variance)
        .map(|(s, v)| s / (v + epsilon).sqrt())
        .collect();
    let bias: Vec<f32> = offset
        .iter()
        .zip(mean)
        .zip(&slope)
        .map(|((o, m), s)| o - m * s)
        .collect();
    let weights: Vec<f32> = filter
        .to_plain_array_view::<f32>()?
        .iter()
        .enumerate()
        .map(|(i, w)| w * slope[i % channels])
        .collect();
    Ok(Some(Fold {
        filter_const,
        filter: tract_ndarray::ArrayD::from_shape_vec(shape, weights)?.into_tensor(),
        bias: tensor1(&bias),
    }))
}

fn apply(graph: &mut GraphDef, bn: usize, fold: Fold) -> TractResult<()> {
    let value: TensorProto = (&fold.filter).try_into()?;
    graph.node[fold.filter_const]
        .attr
        .insert("value".into(), value.into());
    let bias_name = format!("{}/folded_bias", graph.node[bn].name);
    let bias: TensorProto = (&fold.bias).try_into()?;
    let bias_node = tract_tensorflow::tfpb::node()
        .name(&bias_name)
        .op("Const")
        .attr("dtype", DataType::DtFloat)
        .attr("value", bias);
    let node = &mut graph.node[bn];
    let input = node.input[0].clone();
    node.op = "BiasAdd".into();
    node.input = vec![input, bias_name];
    node.attr.clear();
    node.attr.insert("T".into(), DataType::DtFloat.into());
    node.attr.insert("data_format".into(), "NHWC".into());
    graph.node.push(bias_node);
    Ok(())
}

/// Moves a constant per-channel `Add` that follows a depthwise (grouped)
/// convolution into the convolution's bias, in a decluttered model, and
/// returns how many it moved.
pub fn fold_depthwise_bias_adds(model: &mut TypedModel) -> TractResult<usize> {
    let mut folded = 0;
    while let Some(patch) = next_bias_fold(model)? {
        patch.apply(model)?;
        folded += 1;
    }
    Ok(folded)
}

fn next_bias_fold(model: &TypedModel) -> TractResult<Option<TypedModelPatch>> {
    for node in model.nodes() {
        let Some(conv) = node.op_as::<Conv>() else {
            continue;
        };
        if conv.group <= 1 || conv.q_params.is_some() || node.inputs.len() != 3 {
            continue;
        }
        let [succ_outlet] = &*node.outputs[0].successors else {
            continue;
        };
        let succ = model.node(succ_outlet.node);
        if !succ.op_as::<TypedBinOp>().is_some_and(|b| b.0.is::<Add>()) {
            continue;
        }
        let channels = conv.output_channels();
        let output_shape = model.outlet_fact(node.id.into())?.shape.to_tvec();
        let c_axis = conv.pool_spec.data_format.shape(output_shape)?.c_axis();
        let operand_fact = model.outlet_fact(succ.inputs[1 - succ_outlet.slot])?;
        let Some(operand) = operand_fact.konst.clone() else {
            continue;
        };
        // Only a per-channel operand: one value per channel, laid along the
        // output's channel axis (anything else would broadcast differently).
        let per_channel = operand.rank() == operand_fact.rank()
            && operand.len() == channels
            && operand
                .shape()
                .iter()
                .enumerate()
                .all(|(axis, &d)| d == 1 || axis == c_axis);
        if !per_channel {
            continue;
        }
        let Some(bias) = model.outlet_fact(node.inputs[2])?.konst.clone() else {
            continue;
        };
        // The bias is a scalar (tract's zero) or one value per channel.
        let bias: Vec<f32> = bias
            .cast_to::<f32>()?
            .to_plain_array_view::<f32>()?
            .iter()
            .copied()
            .collect();
        if bias.len() != 1 && bias.len() != channels {
            continue;
        }
        let summed: Vec<f32> = operand
            .cast_to::<f32>()?
            .to_plain_array_view::<f32>()?
            .iter()
            .enumerate()
            .map(|(c, v)| v + bias[c % bias.len()])
            .collect();
        let mut patch = TypedModelPatch::default();
        let input = patch.tap_model(model, node.inputs[0])?;
        let kernel = patch.tap_model(model, node.inputs[1])?;
        let new_bias = patch.add_const(format!("{}.folded_bias", node.name), tensor1(&summed))?;
        let wire = patch.wire_node(&node.name, conv.clone(), &[input, kernel, new_bias])?[0];
        patch.shunt_outside(model, succ.id.into(), wire)?;
        return Ok(Some(patch));
    }
    Ok(None)
}

/// `name:1` and `^name` both refer to node `name`.
fn node_name(input: &str) -> &str {
    let input = input.strip_prefix('^').unwrap_or(input);
    input.split(':').next().unwrap_or(input)
}

/// How many inputs (of any node) read each node's outputs.
fn consumer_counts(graph: &GraphDef) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for n in &graph.node {
        for i in &n.input {
            *counts.entry(node_name(i).to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// The `Const` behind `input`, looking through `Identity` nodes (frozen
/// graphs keep a `.../read` identity in front of every weight). With
/// `exclusive`, only if nothing else reads the constant or the identities
/// in between: a fold that rewrites the constant in place needs that.
fn const_behind(
    graph: &GraphDef,
    index: &HashMap<String, usize>,
    input: &str,
    exclusive: Option<&HashMap<String, usize>>,
) -> Option<usize> {
    let mut name = node_name(input);
    // A bounded walk: a malformed graph may loop identities.
    for _ in 0..8 {
        if exclusive.is_some_and(|consumers| consumers.get(name).copied() != Some(1)) {
            return None;
        }
        let at = *index.get(name)?;
        match graph.node[at].op.as_str() {
            "Const" => return Some(at),
            "Identity" if !graph.node[at].input.is_empty() => {
                name = node_name(&graph.node[at].input[0]);
            }
            _ => return None,
        }
    }
    None
}

fn f32_values(node: &NodeDef) -> TractResult<Vec<f32>> {
    let t = node.get_attr_tensor("value")?;
    Ok(t.cast_to::<f32>()?
        .to_plain_array_view::<f32>()?
        .iter()
        .copied()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_tensorflow::tfpb::{graph, node};

    fn konst(name: &str, t: Tensor) -> NodeDef {
        let value: TensorProto = (&t).try_into().unwrap();
        node()
            .name(name)
            .op("Const")
            .attr("dtype", DataType::DtFloat)
            .attr("value", value)
    }

    /// x (1x5x5x3) -> depthwise 3x3, multiplier 2 -> batch norm -> y.
    fn depthwise_bn_graph() -> GraphDef {
        let filter: Vec<f32> = (0..3 * 3 * 3 * 2)
            .map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0)
            .collect();
        let c = 6;
        let v = |f: fn(usize) -> f32| tensor1(&(0..c).map(f).collect::<Vec<f32>>());
        graph()
            .node(
                node()
                    .name("x")
                    .op("Placeholder")
                    .attr("dtype", DataType::DtFloat),
            )
            .node(konst(
                "w",
                tract_ndarray::ArrayD::from_shape_vec(vec![3, 3, 3, 2], filter)
                    .unwrap()
                    .into_tensor(),
            ))
            .node(node().name("w/read").op("Identity").input("w"))
            .node(
                node()
                    .name("dw")
                    .op("DepthwiseConv2dNative")
                    .input("x")
                    .input("w/read")
                    .attr("T", DataType::DtFloat)
                    .attr("strides", vec![1i64, 1, 1, 1])
                    .attr("dilations", vec![1i64, 1, 1, 1])
                    .attr("padding", "SAME")
                    .attr("data_format", "NHWC"),
            )
            .node(konst("gamma", v(|i| 0.5 + i as f32 * 0.3)))
            .node(konst("beta", v(|i| i as f32 * 0.1 - 0.2)))
            .node(konst("mean", v(|i| 0.05 * i as f32)))
            .node(konst("var", v(|i| 0.2 + 0.4 * i as f32)))
            .node(
                node()
                    .name("bn")
                    .op("FusedBatchNorm")
                    .input("dw")
                    .input("gamma")
                    .input("beta")
                    .input("mean")
                    .input("var")
                    .attr("T", DataType::DtFloat)
                    .attr("epsilon", 0.001f32)
                    .attr("is_training", false)
                    .attr("data_format", "NHWC"),
            )
    }

    /// Runs the graph, after moving bias adds into the convolution when
    /// `fold_adds`; returns the output and how many adds moved.
    fn run(g: &GraphDef, x: &Tensor, fold_adds: bool) -> (Vec<f32>, usize) {
        let mut model = tract_tensorflow::tensorflow()
            .model_for_proto_model(g)
            .unwrap();
        model.set_input_names(["x"]).unwrap();
        model.select_outputs_by_name(["bn"]).unwrap();
        model
            .set_input_fact(0, f32::fact([1, 5, 5, 3]).into())
            .unwrap();
        let mut model = model.into_typed().unwrap().into_decluttered().unwrap();
        let moved = if fold_adds {
            fold_depthwise_bias_adds(&mut model).unwrap()
        } else {
            0
        };
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        let out = plan.run(tvec!(x.clone().into())).unwrap();
        let out = out[0]
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        (out, moved)
    }

    #[test]
    fn a_folded_graph_computes_what_the_original_did() {
        let original = depthwise_bn_graph();
        let mut folded = original.clone();
        assert_eq!(fold_depthwise_batch_norms(&mut folded).unwrap(), 1);
        let bn = folded.node.iter().find(|n| n.name == "bn").unwrap();
        assert_eq!(bn.op, "BiasAdd");
        let x: Vec<f32> = (0..75)
            .map(|i| ((i * 13) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let x = tract_ndarray::ArrayD::from_shape_vec(vec![1, 5, 5, 3], x)
            .unwrap()
            .into_tensor();
        let ((a, _), (b, moved)) = (run(&original, &x, false), run(&folded, &x, true));
        assert_eq!(moved, 1, "the bias add moved into the convolution");
        assert_eq!(a.len(), 5 * 5 * 6);
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "output {i}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn a_filter_shared_with_another_node_is_left_alone() {
        let mut g = depthwise_bn_graph().node(node().name("other").op("Identity").input("w"));
        assert_eq!(fold_depthwise_batch_norms(&mut g).unwrap(), 0);
        assert!(g.node.iter().any(|n| n.op == "FusedBatchNorm"));
    }

    #[test]
    fn a_training_batch_norm_is_left_alone() {
        let mut g = depthwise_bn_graph();
        let bn = g.node.iter_mut().find(|n| n.name == "bn").unwrap();
        bn.attr.insert("is_training".into(), true.into());
        assert_eq!(fold_depthwise_batch_norms(&mut g).unwrap(), 0);
    }
}
