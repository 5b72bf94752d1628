//! A primal network simplex for uncapacitated transshipment problems with a given root.
//!
//! The allocation model (see the module doc of [`super`]) is a transshipment problem in
//! which every arc is uncapacitated: a holding can never ship more than it has because its
//! only inflow is its supply, and a line never receives more than it asks because its only
//! outflow is its demand. The slack node `R` of that model is connected to every other node
//! by a real arc (holding → `R` at cost 0, `R` → line at the line's shortage penalty), so it
//! serves as the root of the spanning tree and the "everything is short" flow is a feasible,
//! strongly feasible starting basis: no artificial arcs and no phase one.
//!
//! The tree is stored as in LEMON's `NetworkSimplex` (parent, predecessor arc and its
//! direction, a preorder thread with its reverse, subtree sizes and last successors) and
//! entering arcs are chosen by block search: scan blocks of about √m arcs cyclically and
//! take the most negative reduced cost of the first block that has one. Leaving arcs are
//! chosen with the strongly-feasible tie-break (the last blocking arc met when walking the
//! cycle from the join node in its orientation), which prevents cycling on degenerate
//! pivots.
//!
//! Complexity: each pivot costs O(√m) for pricing plus O(depth of the cycle + size of the
//! moved subtree) for the update; the number of pivots is small in practice (a few times
//! the number of nodes) though exponential in the worst case. A pivot limit turns a bug into
//! a typed error instead of a hang.

/// The arc directions relative to a node's parent: `UP` when the tree arc leaves the node.
const DIR_UP: i64 = 1;
const DIR_DOWN: i64 = -1;

/// An arc's state: in the tree, or out of it at flow zero (arcs have no upper bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArcState {
    Tree,
    Lower,
}

/// Why the simplex stopped without an optimum. Neither can happen on a well-formed
/// allocation network; both exist so that a defect never turns into a panic or a hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SimplexFailure {
    /// A negative cycle without a blocking arc: the objective is unbounded below.
    Unbounded,
    /// More pivots than [`NetworkSimplex::pivot_limit`] allows.
    PivotLimit,
}

/// An optimal flow and the node potentials that certify it.
///
/// With `reduced(u→v) = cost + potential[u] − potential[v]`, every tree arc has reduced
/// cost zero and every other arc a non-negative one; the root's potential is zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SimplexSolution {
    /// Flow on each of the caller's arcs, in the order they were given.
    pub flows: Vec<i64>,
    /// Flow on each node's root arc (holding → root, or root → line).
    pub root_flows: Vec<i64>,
    /// Potential of each node (the root's is zero and not included).
    pub potentials: Vec<i64>,
}

/// Solves `min Σ cost·flow` subject to flow conservation, where node `i` has `supplies[i]`
/// (positive: it ships, negative: it receives) and the root absorbs the difference. A node
/// with positive supply is joined to the root by an arc node → root at `root_costs[i]`;
/// any other node by an arc root → node at `root_costs[i]`. `arcs` are (from, to, cost).
pub(super) fn solve(
    supplies: &[i64],
    root_costs: &[i64],
    arcs: &[(usize, usize, i64)],
) -> Result<SimplexSolution, SimplexFailure> {
    let mut simplex = NetworkSimplex::new(supplies, root_costs, arcs);
    simplex.run()?;
    Ok(simplex.into_solution(arcs.len()))
}

/// The working state of one solve; arcs `0..m` are the caller's, `m..m+n` the root arcs.
#[derive(Debug)]
struct NetworkSimplex {
    node_count: usize,
    source: Vec<usize>,
    target: Vec<usize>,
    cost: Vec<i64>,
    flow: Vec<i64>,
    state: Vec<ArcState>,
    parent: Vec<usize>,
    pred: Vec<usize>,
    pred_dir: Vec<i64>,
    thread: Vec<usize>,
    rev_thread: Vec<usize>,
    succ_num: Vec<usize>,
    last_succ: Vec<usize>,
    potential: Vec<i64>,
    block_size: usize,
    next_arc: usize,
    pivot: Pivot,
    dirty_revs: Vec<usize>,
}

/// The nodes and arcs of the pivot under way.
#[derive(Debug, Default, Clone, Copy)]
struct Pivot {
    in_arc: usize,
    join: usize,
    u_in: usize,
    v_in: usize,
    u_out: usize,
    delta: i64,
}

/// Marks "no parent" for the root.
const NONE: usize = usize::MAX;

impl NetworkSimplex {
    fn new(supplies: &[i64], root_costs: &[i64], arcs: &[(usize, usize, i64)]) -> Self {
        let n = supplies.len();
        let root = n;
        let total_arcs = arcs.len() + n;
        let mut simplex = Self {
            node_count: n,
            source: Vec::with_capacity(total_arcs),
            target: Vec::with_capacity(total_arcs),
            cost: Vec::with_capacity(total_arcs),
            flow: vec![0; total_arcs],
            state: vec![ArcState::Lower; total_arcs],
            parent: vec![root; n + 1],
            pred: vec![0; n + 1],
            pred_dir: vec![DIR_UP; n + 1],
            thread: (1..=n + 1).collect(),
            rev_thread: vec![0; n + 1],
            succ_num: vec![1; n + 1],
            last_succ: (0..=n).collect(),
            potential: vec![0; n + 1],
            block_size: ((total_arcs as f64).sqrt().ceil() as usize).max(10),
            next_arc: 0,
            pivot: Pivot::default(),
            dirty_revs: Vec::new(),
        };
        for &(from, to, cost) in arcs {
            simplex.push_arc(from, to, cost);
        }
        simplex.install_initial_tree(supplies, root_costs, arcs.len());
        simplex
    }

    fn push_arc(&mut self, from: usize, to: usize, cost: i64) {
        self.source.push(from);
        self.target.push(to);
        self.cost.push(cost);
    }

    /// Every node hangs from the root by its root arc, carrying its whole supply: the
    /// "nothing allocated" solution. Arcs with flow point toward the root and zero-flow arcs
    /// away from it, so the tree is strongly feasible.
    fn install_initial_tree(
        &mut self,
        supplies: &[i64],
        root_costs: &[i64],
        first_root_arc: usize,
    ) {
        let root = self.node_count;
        for (node, (&supply, &root_cost)) in supplies.iter().zip(root_costs).enumerate() {
            let arc = first_root_arc + node;
            if supply > 0 {
                self.push_arc(node, root, root_cost);
                self.pred_dir[node] = DIR_UP;
                self.flow[arc] = supply;
                self.potential[node] = -root_cost;
            } else {
                self.push_arc(root, node, root_cost);
                self.pred_dir[node] = DIR_DOWN;
                self.flow[arc] = -supply;
                self.potential[node] = root_cost;
            }
            self.pred[node] = arc;
            self.state[arc] = ArcState::Tree;
            self.rev_thread[node + 1] = node;
        }
        self.parent[root] = NONE;
        self.pred[root] = NONE;
        self.thread[root] = 0;
        self.rev_thread[0] = root;
        self.succ_num[root] = root + 1;
        self.last_succ[root] = if root == 0 { root } else { root - 1 };
        self.potential[root] = 0;
    }

    /// A generous bound on pivots: far above what a sane instance needs.
    fn pivot_limit(&self) -> usize {
        let arcs = self.source.len();
        1_000_000usize.saturating_add(arcs.saturating_mul(50))
    }

    fn run(&mut self) -> Result<(), SimplexFailure> {
        if self.node_count == 0 {
            return Ok(());
        }
        let limit = self.pivot_limit();
        let mut pivots = 0usize;
        while let Some(in_arc) = self.find_entering_arc() {
            pivots += 1;
            if pivots > limit {
                return Err(SimplexFailure::PivotLimit);
            }
            self.pivot.in_arc = in_arc;
            self.find_join_node();
            if !self.find_leaving_arc() {
                return Err(SimplexFailure::Unbounded);
            }
            self.change_flow();
            self.update_tree_structure();
            self.update_potential();
        }
        Ok(())
    }

    fn reduced_cost(&self, arc: usize) -> i64 {
        self.cost[arc] + self.potential[self.source[arc]] - self.potential[self.target[arc]]
    }

    /// Block search: the most negative reduced cost in the first block (cyclically from
    /// where the last search stopped) that has any.
    fn find_entering_arc(&mut self) -> Option<usize> {
        let arc_count = self.source.len();
        let mut best: Option<(i64, usize)> = None;
        let mut left_in_block = self.block_size;
        for step in 0..arc_count {
            let arc = (self.next_arc + step) % arc_count;
            if self.state[arc] == ArcState::Lower {
                let reduced = self.reduced_cost(arc);
                if reduced < best.map_or(0, |(value, _)| value) {
                    best = Some((reduced, arc));
                }
            }
            left_in_block -= 1;
            if left_in_block == 0 {
                if best.is_some() {
                    self.next_arc = (arc + 1) % arc_count;
                    return best.map(|(_, arc)| arc);
                }
                left_in_block = self.block_size;
            }
        }
        best.map(|(_, arc)| {
            self.next_arc = (arc + 1) % arc_count;
            arc
        })
    }

    /// The lowest common ancestor of the entering arc's ends.
    fn find_join_node(&mut self) {
        let mut u = self.source[self.pivot.in_arc];
        let mut v = self.target[self.pivot.in_arc];
        while u != v {
            if self.succ_num[u] < self.succ_num[v] {
                u = self.parent[u];
            } else {
                v = self.parent[v];
            }
        }
        self.pivot.join = u;
    }

    /// Walks the cycle closed by the entering arc and picks the blocking arc. Flow goes
    /// join → … → first → second → … → join; on the first path the strictly smallest
    /// residual wins, on the second the last smallest, which keeps the tree strongly
    /// feasible. Returns false when nothing blocks (unbounded).
    fn find_leaving_arc(&mut self) -> bool {
        let first = self.source[self.pivot.in_arc];
        let second = self.target[self.pivot.in_arc];
        let join = self.pivot.join;
        let mut delta = i64::MAX;
        let mut result = 0;
        let mut u = first;
        while u != join {
            if self.pred_dir[u] == DIR_UP {
                let residual = self.flow[self.pred[u]];
                if residual < delta {
                    delta = residual;
                    self.pivot.u_out = u;
                    result = 1;
                }
            }
            u = self.parent[u];
        }
        let mut u = second;
        while u != join {
            if self.pred_dir[u] == DIR_DOWN {
                let residual = self.flow[self.pred[u]];
                if residual <= delta {
                    delta = residual;
                    self.pivot.u_out = u;
                    result = 2;
                }
            }
            u = self.parent[u];
        }
        self.pivot.delta = delta;
        if result == 1 {
            self.pivot.u_in = first;
            self.pivot.v_in = second;
        } else {
            self.pivot.u_in = second;
            self.pivot.v_in = first;
        }
        result != 0
    }

    /// Pushes `delta` around the cycle and swaps the states of the entering and leaving arcs.
    fn change_flow(&mut self) {
        let Pivot {
            in_arc,
            join,
            u_out,
            delta,
            ..
        } = self.pivot;
        if delta > 0 {
            self.flow[in_arc] += delta;
            let mut u = self.source[in_arc];
            while u != join {
                self.flow[self.pred[u]] -= self.pred_dir[u] * delta;
                u = self.parent[u];
            }
            let mut u = self.target[in_arc];
            while u != join {
                self.flow[self.pred[u]] += self.pred_dir[u] * delta;
                u = self.parent[u];
            }
        }
        self.state[in_arc] = ArcState::Tree;
        self.state[self.pred[u_out]] = ArcState::Lower;
    }

    /// Re-hangs the subtree cut off by the leaving arc below the entering arc, keeping the
    /// thread, parents, predecessor arcs, subtree sizes and last successors consistent
    /// (LEMON's `updateTreeStructure`, transcribed).
    fn update_tree_structure(&mut self) {
        let Pivot {
            in_arc,
            join,
            u_in,
            v_in,
            u_out,
            ..
        } = self.pivot;
        let old_rev_thread = self.rev_thread[u_out];
        let old_succ_num = self.succ_num[u_out];
        let old_last_succ = self.last_succ[u_out];
        let v_out = self.parent[u_out];

        if u_in == u_out {
            self.parent[u_in] = v_in;
            self.pred[u_in] = in_arc;
            self.pred_dir[u_in] = if u_in == self.source[in_arc] {
                DIR_UP
            } else {
                DIR_DOWN
            };
            if self.thread[v_in] != u_out {
                let after = self.thread[old_last_succ];
                self.thread[old_rev_thread] = after;
                self.rev_thread[after] = old_rev_thread;
                let after = self.thread[v_in];
                self.thread[v_in] = u_out;
                self.rev_thread[u_out] = v_in;
                self.thread[old_last_succ] = after;
                self.rev_thread[after] = old_last_succ;
            }
        } else {
            self.reverse_stem(old_rev_thread, old_succ_num);
        }
        self.update_last_successors(v_out, old_rev_thread, old_last_succ);
        let mut u = v_in;
        while u != join {
            self.succ_num[u] += old_succ_num;
            u = self.parent[u];
        }
        let mut u = v_out;
        while u != join {
            self.succ_num[u] -= old_succ_num;
            u = self.parent[u];
        }
    }

    /// The general case of the tree update: the path ("stem") from `u_in` up to `u_out`
    /// is reversed so that `u_in` becomes the subtree's new top.
    fn reverse_stem(&mut self, old_rev_thread: usize, old_succ_num: usize) {
        let Pivot {
            in_arc,
            u_in,
            v_in,
            u_out,
            ..
        } = self.pivot;
        let old_last_succ = self.last_succ[u_out];
        let thread_continue = if old_rev_thread == v_in {
            self.thread[old_last_succ]
        } else {
            self.thread[v_in]
        };
        let mut stem = u_in;
        let mut par_stem = v_in;
        let mut last = self.last_succ[u_in];
        let mut after = self.thread[last];
        self.thread[v_in] = u_in;
        self.dirty_revs.clear();
        self.dirty_revs.push(v_in);
        while stem != u_out {
            let next_stem = self.parent[stem];
            self.thread[last] = next_stem;
            self.dirty_revs.push(last);
            let before = self.rev_thread[stem];
            self.thread[before] = after;
            self.rev_thread[after] = before;
            self.parent[stem] = par_stem;
            par_stem = stem;
            stem = next_stem;
            last = if self.last_succ[stem] == self.last_succ[par_stem] {
                self.rev_thread[par_stem]
            } else {
                self.last_succ[stem]
            };
            after = self.thread[last];
        }
        self.parent[u_out] = par_stem;
        self.thread[last] = thread_continue;
        self.rev_thread[thread_continue] = last;
        self.last_succ[u_out] = last;
        if old_rev_thread != v_in {
            self.thread[old_rev_thread] = after;
            self.rev_thread[after] = old_rev_thread;
        }
        for index in 0..self.dirty_revs.len() {
            let u = self.dirty_revs[index];
            self.rev_thread[self.thread[u]] = u;
        }
        let mut subtree_size = 0usize;
        let top_last = self.last_succ[u_out];
        let mut u = u_out;
        while u != u_in {
            let p = self.parent[u];
            self.pred[u] = self.pred[p];
            self.pred_dir[u] = -self.pred_dir[p];
            subtree_size = subtree_size + self.succ_num[u] - self.succ_num[p];
            self.succ_num[u] = subtree_size;
            self.last_succ[p] = top_last;
            u = p;
        }
        self.pred[u_in] = in_arc;
        self.pred_dir[u_in] = if u_in == self.source[in_arc] {
            DIR_UP
        } else {
            DIR_DOWN
        };
        self.succ_num[u_in] = old_succ_num;
    }

    /// Last successors change along the paths from `v_in` and `v_out` toward the root.
    fn update_last_successors(
        &mut self,
        v_out: usize,
        old_rev_thread: usize,
        old_last_succ: usize,
    ) {
        let Pivot {
            join, v_in, u_out, ..
        } = self.pivot;
        let up_limit_out = if self.last_succ[join] == v_in {
            join
        } else {
            NONE
        };
        let last_succ_out = self.last_succ[u_out];
        let mut u = v_in;
        while u != NONE && self.last_succ[u] == v_in {
            self.last_succ[u] = last_succ_out;
            u = self.parent[u];
        }
        let replacement = if join != old_rev_thread && v_in != old_rev_thread {
            Some(old_rev_thread)
        } else if last_succ_out != old_last_succ {
            Some(last_succ_out)
        } else {
            None
        };
        if let Some(replacement) = replacement {
            let mut u = v_out;
            while u != up_limit_out && self.last_succ[u] == old_last_succ {
                self.last_succ[u] = replacement;
                u = self.parent[u];
            }
        }
    }

    /// Shifts the potentials of the re-hung subtree so the entering arc's reduced cost is 0.
    fn update_potential(&mut self) {
        let Pivot {
            in_arc, u_in, v_in, ..
        } = self.pivot;
        let sigma =
            self.potential[v_in] - self.potential[u_in] - self.pred_dir[u_in] * self.cost[in_arc];
        let end = self.thread[self.last_succ[u_in]];
        let mut u = u_in;
        while u != end {
            self.potential[u] += sigma;
            u = self.thread[u];
        }
    }

    fn into_solution(mut self, caller_arcs: usize) -> SimplexSolution {
        let root_flows = self.flow.split_off(caller_arcs);
        self.potential.truncate(self.node_count);
        SimplexSolution {
            flows: self.flow,
            root_flows,
            potentials: self.potential,
        }
    }
}
