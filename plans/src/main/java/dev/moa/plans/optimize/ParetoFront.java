package dev.moa.plans.optimize;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** The non-dominated choices of a set (all objectives minimised), each rule assignment once. */
public final class ParetoFront {
    private ParetoFront() {
    }

    /** Keeps the choices no other choice dominates, first occurrence of duplicates, ordered by the first objective. */
    public static List<PlanChoice> of(List<PlanChoice> choices) {
        List<PlanChoice> distinct = new ArrayList<>();
        for (PlanChoice c : choices) {
            if (distinct.stream().noneMatch(c::sameRules)) distinct.add(c);
        }
        List<PlanChoice> front = new ArrayList<>();
        for (PlanChoice c : distinct) {
            if (distinct.stream().noneMatch(other -> other.dominates(c))) front.add(c);
        }
        front.sort(Comparator.comparingDouble(c -> c.objectives()[0]));
        return front;
    }
}
