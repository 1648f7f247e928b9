"""The example of the article graphjit grew from, unchanged but for the import line."""

import graphjit as tf

# 创建一个默认计算图
graph = tf.Graph()

# 在计算图中定义操作
with graph.as_default():
    a = tf.constant(5.0, name='a')
    b = tf.constant(3.0, name='b')
    c = tf.add(a, b, name='c')

# 执行计算图的操作
with tf.Session(graph=graph) as sess:
    result = sess.run(c)
    print(result)
